//! PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, in one message.
//!
//! The strings are sent as given, in UTF-8; the server applies SASLprep to
//! what it receives, so preparing them here would only risk a mismatch.

use super::{Credentials, Mechanism, SaslError, Zeroizing};

const NAME: &str = "PLAIN";

/// A run of PLAIN.
pub(crate) struct Plain {
    /// Holds the password: wiped on drop.
    message: Zeroizing<Vec<u8>>,
    sent: bool,
}

impl Plain {
    /// Refuses a NUL in any field and an empty username (RFC 4616's
    /// grammar has no room for either).
    pub(crate) fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        let invalid = |reason| SaslError::InvalidInput {
            mechanism: NAME,
            reason,
        };
        let authzid = credentials.authzid.as_deref().unwrap_or("");
        let user = credentials.username.as_str();
        let pass = credentials.secret.expose();
        if authzid.contains('\0') {
            return Err(invalid("the authorization identity contains a NUL"));
        }
        if user.contains('\0') {
            return Err(invalid("the username contains a NUL"));
        }
        if pass.contains('\0') {
            return Err(invalid("the password contains a NUL"));
        }
        if user.is_empty() {
            return Err(invalid("the username is empty"));
        }
        // Sized up front: a regrowth would free a copy without wiping it.
        let mut message = Zeroizing::new(Vec::with_capacity(
            authzid.len() + user.len() + pass.len() + 2,
        ));
        message.extend_from_slice(authzid.as_bytes());
        message.push(0);
        message.extend_from_slice(user.as_bytes());
        message.push(0);
        message.extend_from_slice(pass.as_bytes());
        Ok(Self {
            message,
            sent: false,
        })
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &'static str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        self.sent = true;
        Ok(Some(self.message.clone()))
    }

    /// The only challenge PLAIN accepts is the empty one a server sends
    /// when AUTH came without an initial response.
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        if self.sent || !challenge.is_empty() {
            return Err(SaslError::UnexpectedChallenge { mechanism: NAME });
        }
        self.sent = true;
        Ok(self.message.clone())
    }

    fn complete(&self) -> Result<(), SaslError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_examples() {
        // §4: the first example has no authzid; in the second, Kurt acts
        // as Ursel.
        let c = Credentials::new("tim", "tanstaaftanstaaf");
        let mut m = Plain::new(&c).unwrap();
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"\0tim\0tanstaaftanstaaf"
        );
        m.complete().unwrap();

        let c = Credentials::new("Kurt", "xipj3plmq").with_authzid("Ursel");
        let mut m = Plain::new(&c).unwrap();
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"Ursel\0Kurt\0xipj3plmq"
        );
    }

    #[test]
    fn utf8_is_sent_as_is() {
        let c = Credentials::new("j\u{f6}rg", "p\u{e4}ss");
        let mut m = Plain::new(&c).unwrap();
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            "\0j\u{f6}rg\0p\u{e4}ss".as_bytes()
        );
    }

    /// The message the mechanism keeps (for an empty challenge) holds the
    /// password: wiped when the mechanism is dropped.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kept_message_is_wiped_when_dropped() {
        use postie_testkit::freed;
        const PASSWORD: &str = "correct-horse-battery-staple-0123456789";
        freed::check_control(PASSWORD.as_bytes());
        let m = Plain::new(&Credentials::new("tim", PASSWORD)).unwrap();
        let (addr, len) = (m.message.as_ptr(), m.message.len());
        let memory = freed::after_drop(m, addr, len);
        assert!(!freed::holds(&memory, PASSWORD.as_bytes()), "{memory:?}");
    }

    #[test]
    fn nul_and_empty_username_are_refused() {
        assert!(Plain::new(&Credentials::new("a\0b", "p")).is_err());
        assert!(Plain::new(&Credentials::new("a", "p\0")).is_err());
        assert!(Plain::new(&Credentials::new("a", "p").with_authzid("\0")).is_err());
        assert!(Plain::new(&Credentials::new("", "p")).is_err());
    }

    #[test]
    fn empty_challenge_without_initial_response() {
        let mut m = Plain::new(&Credentials::new("tim", "pw")).unwrap();
        assert_eq!(m.respond(b"").unwrap().to_vec(), b"\0tim\0pw");
        assert!(matches!(
            m.respond(b""),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn challenge_after_initial_response_is_an_error() {
        let mut m = Plain::new(&Credentials::new("tim", "pw")).unwrap();
        m.initial_response().unwrap();
        assert!(m.respond(b"").is_err());
        assert!(m.respond(b"hello").is_err());
    }
}
