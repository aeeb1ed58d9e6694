//! CRAM-MD5 (RFC 2195): the server sends a challenge, the client answers
//! `username SP lowercase-hex(HMAC-MD5(password, challenge))`. The server
//! does not prove anything, and there is no authorization identity.

use super::{hex, hmac_md5, Credentials, Mechanism, SaslError, Secret, Zeroizing};

const NAME: &str = "CRAM-MD5";

/// A run of CRAM-MD5.
pub(crate) struct CramMd5 {
    username: String,
    password: Secret,
    answered: bool,
}

impl CramMd5 {
    /// Any authzid is ignored: CRAM-MD5 has no place for it.
    pub(crate) fn new(credentials: &Credentials) -> Self {
        Self {
            username: credentials.username.clone(),
            password: credentials.secret.clone(),
            answered: false,
        }
    }
}

impl Mechanism for CramMd5 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(None)
    }

    /// The challenge is used as it comes (RFC 2195 asks for a msg-id, but
    /// servers vary); an empty one is refused, since it would be a
    /// server-chosen constant to hash the password against.
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        if self.answered {
            return Err(SaslError::UnexpectedChallenge { mechanism: NAME });
        }
        if challenge.is_empty() {
            return Err(SaslError::MalformedChallenge {
                mechanism: NAME,
                reason: "empty challenge".into(),
            });
        }
        self.answered = true;
        let digest = hmac_md5(self.password.expose().as_bytes(), &[challenge]);
        let digest = Zeroizing::new(hex(&digest));
        let mut answer = Zeroizing::new(Vec::with_capacity(self.username.len() + 1 + digest.len()));
        answer.extend_from_slice(self.username.as_bytes());
        answer.push(b' ');
        answer.extend_from_slice(digest.as_bytes());
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
    fn rfc2195_example() {
        let mut m = CramMd5::new(&Credentials::new("tim", "tanstaaftanstaaf"));
        assert_eq!(m.initial_response().unwrap(), None);
        let answer = m
            .respond(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(*answer, b"tim b913a602c7eda7a495b4e6e7334d3890");
        m.complete().unwrap();
    }

    #[test]
    fn second_challenge_and_empty_challenge_are_errors() {
        let mut m = CramMd5::new(&Credentials::new("tim", "x"));
        assert!(matches!(
            m.respond(b""),
            Err(SaslError::MalformedChallenge { .. })
        ));
        m.respond(b"<1.2@h>").unwrap();
        assert!(matches!(
            m.respond(b"<1.2@h>"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }
}
