//! LOGIN (draft-murchison-sasl-login): the server asks twice, with any text
//! (usually `Username:` and `Password:`); the client answers with the
//! username, then the password. There is no initial response and no
//! authorization identity.

use super::{Credentials, Mechanism, SaslError, Secret, Zeroizing};

const NAME: &str = "LOGIN";

/// A run of LOGIN.
pub(crate) struct Login {
    username: String,
    password: Secret,
    step: u8,
}

impl Login {
    /// Any authzid is ignored: LOGIN has no place for it.
    pub(crate) fn new(credentials: &Credentials) -> Self {
        Self {
            username: credentials.username.clone(),
            password: credentials.secret.clone(),
            step: 0,
        }
    }
}

impl Mechanism for Login {
    fn name(&self) -> &'static str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(None)
    }

    /// The challenge text is not looked at: servers word it differently.
    fn respond(&mut self, _challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        let answer = match self.step {
            0 => Zeroizing::new(self.username.as_bytes().to_vec()),
            1 => Zeroizing::new(self.password.expose().as_bytes().to_vec()),
            _ => return Err(SaslError::UnexpectedChallenge { mechanism: NAME }),
        };
        self.step += 1;
        Ok(answer)
    }

    fn complete(&self) -> Result<(), SaslError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_steps_then_error() {
        let mut m = Login::new(&Credentials::new("tim", "tanstaaf"));
        assert_eq!(m.name(), "LOGIN");
        assert_eq!(m.initial_response().unwrap(), None);
        assert_eq!(m.respond(b"Username:").unwrap().to_vec(), b"tim");
        assert_eq!(m.respond(b"Password:").unwrap().to_vec(), b"tanstaaf");
        assert!(matches!(
            m.respond(b"Password:"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
        m.complete().unwrap();
    }

    #[test]
    fn challenge_text_does_not_matter() {
        let mut m = Login::new(&Credentials::new("j\u{f6}rg", "p w"));
        assert_eq!(m.respond(b"").unwrap().to_vec(), "j\u{f6}rg".as_bytes());
        assert_eq!(m.respond(b"\xff\x00 whatever").unwrap().to_vec(), b"p w");
    }
}
