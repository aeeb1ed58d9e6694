//! OAuth 2.0 bearer tokens: OAUTHBEARER (RFC 7628) and Google's older
//! XOAUTH2. The secret is the access token.
//!
//! Both send everything in the initial response. A challenge after it is
//! the server's error, a JSON object such as
//! `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`;
//! the client must answer it (empty for XOAUTH2, `\x01` for OAUTHBEARER) so
//! that the server can end the exchange with its failure reply. The
//! mechanism keeps the text: [`Mechanism::server_error`] returns it, for the
//! core to show with that reply, and [`Mechanism::complete`] fails if the
//! server said 235 anyway.

use super::{assemble, gs2_escape, printable, Credentials, Mechanism, SaslError, Zeroizing};

/// What the two mechanisms share: the message, and what the server said.
struct Exchange {
    name: &'static str,
    /// Holds the token: wiped on drop.
    message: Zeroizing<Vec<u8>>,
    /// The answer to the error challenge.
    error_answer: &'static [u8],
    sent: bool,
    server_error: Option<String>,
}

impl Exchange {
    fn initial_response(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.sent = true;
        Some(self.message.clone())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        if !self.sent {
            // AUTH went without an initial response: the server asks for it
            // with an empty challenge.
            if challenge.is_empty() {
                self.sent = true;
                return Ok(self.message.clone());
            }
            return Err(SaslError::UnexpectedChallenge {
                mechanism: self.name,
            });
        }
        if self.server_error.is_some() {
            return Err(SaslError::UnexpectedChallenge {
                mechanism: self.name,
            });
        }
        self.server_error = Some(printable(challenge));
        Ok(Zeroizing::new(self.error_answer.to_vec()))
    }

    fn complete(&self) -> Result<(), SaslError> {
        match &self.server_error {
            None => Ok(()),
            Some(message) => Err(SaslError::Server {
                mechanism: self.name,
                message: message.clone(),
            }),
        }
    }
}

fn check(name: &'static str, credentials: &Credentials) -> Result<(), SaslError> {
    let invalid = |reason| SaslError::InvalidInput {
        mechanism: name,
        reason,
    };
    let token = credentials.secret.expose();
    if token.is_empty() {
        return Err(invalid("the access token is empty"));
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(invalid(
            "the access token contains a space or a control character",
        ));
    }
    if credentials.username.chars().any(char::is_control) {
        return Err(invalid("the username contains a control character"));
    }
    Ok(())
}

/// A run of XOAUTH2: `user=U\x01auth=Bearer TOKEN\x01\x01`.
pub(crate) struct XOAuth2(Exchange);

impl XOAuth2 {
    /// Any authzid is ignored: XOAUTH2 has no place for it.
    pub(crate) fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        const NAME: &str = "XOAUTH2";
        check(NAME, credentials)?;
        let message = assemble(&[
            b"user=",
            credentials.username.as_bytes(),
            b"\x01auth=Bearer ",
            credentials.secret.expose().as_bytes(),
            b"\x01\x01",
        ]);
        Ok(Self(Exchange {
            name: NAME,
            message,
            error_answer: b"",
            sent: false,
            server_error: None,
        }))
    }
}

impl Mechanism for XOAuth2 {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(self.0.initial_response())
    }
    /// After the initial response, a challenge is the server's JSON error:
    /// it is kept and answered with an empty response.
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        self.0.respond(challenge)
    }
    fn complete(&self) -> Result<(), SaslError> {
        self.0.complete()
    }
    fn server_error(&self) -> Option<&str> {
        self.0.server_error.as_deref()
    }
}

/// A run of OAUTHBEARER:
/// `n,a=USER,\x01host=HOST\x01port=PORT\x01auth=Bearer TOKEN\x01\x01`.
pub(crate) struct OAuthBearer(Exchange);

impl OAuthBearer {
    /// `a=` carries the authzid when one is given, else the username (which
    /// is what providers expect: the token already says who it is for).
    pub(crate) fn new(credentials: &Credentials, host: &str, port: u16) -> Result<Self, SaslError> {
        const NAME: &str = "OAUTHBEARER";
        check(NAME, credentials)?;
        if host.chars().any(char::is_control) {
            return Err(SaslError::InvalidInput {
                mechanism: NAME,
                reason: "the host name contains a control character",
            });
        }
        let user = match credentials.authzid.as_deref() {
            Some(a) if !a.is_empty() => a,
            _ => credentials.username.as_str(),
        };
        if user.chars().any(char::is_control) {
            return Err(SaslError::InvalidInput {
                mechanism: NAME,
                reason: "the authorization identity contains a control character",
            });
        }
        let gs2 = if user.is_empty() {
            "n,,".to_owned()
        } else {
            format!("n,a={},", gs2_escape(user))
        };
        let message = assemble(&[
            gs2.as_bytes(),
            b"\x01host=",
            host.as_bytes(),
            b"\x01port=",
            port.to_string().as_bytes(),
            b"\x01auth=Bearer ",
            credentials.secret.expose().as_bytes(),
            b"\x01\x01",
        ]);
        Ok(Self(Exchange {
            name: NAME,
            message,
            error_answer: b"\x01",
            sent: false,
            server_error: None,
        }))
    }
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(self.0.initial_response())
    }
    /// After the initial response, a challenge is the server's JSON error
    /// (RFC 7628 §3.2.2): it is kept and answered with `\x01` (§3.2.3).
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        self.0.respond(challenge)
    }
    fn complete(&self) -> Result<(), SaslError> {
        self.0.complete()
    }
    fn server_error(&self) -> Option<&str> {
        self.0.server_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &[u8] =
        br#"{"status":"invalid_token","schemes":"bearer","scope":"https://mail.google.com/"}"#;

    #[test]
    fn xoauth2_message() {
        // Google's documented example.
        let c = Credentials::new(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        );
        let mut m = XOAuth2::new(&c).unwrap();
        assert_eq!(m.name(), "XOAUTH2");
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        m.complete().unwrap();
        assert_eq!(m.server_error(), None);
    }

    /// The message kept for an empty challenge holds the token: wiped
    /// when the mechanism is dropped.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kept_message_is_wiped_when_dropped() {
        use postie_testkit::freed;
        const TOKEN: &str = "ya29.correct-horse-battery-staple-0123456789";
        freed::check_control(TOKEN.as_bytes());
        let c = Credentials::new("someone.long@example.com", TOKEN);
        let x = XOAuth2::new(&c).unwrap();
        let (addr, len) = (x.0.message.as_ptr(), x.0.message.len());
        let memory = freed::after_drop(x, addr, len);
        assert!(!freed::holds(&memory, TOKEN.as_bytes()), "{memory:?}");
        let o = OAuthBearer::new(&c, "mx.example.org", 587).unwrap();
        let (addr, len) = (o.0.message.as_ptr(), o.0.message.len());
        let memory = freed::after_drop(o, addr, len);
        assert!(!freed::holds(&memory, TOKEN.as_bytes()), "{memory:?}");
    }

    #[test]
    fn xoauth2_error_challenge() {
        let mut m = XOAuth2::new(&Credentials::new("u@example.com", "tok")).unwrap();
        m.initial_response().unwrap();
        assert_eq!(m.respond(JSON).unwrap().to_vec(), b"");
        assert_eq!(m.server_error(), Some(std::str::from_utf8(JSON).unwrap()));
        match m.complete() {
            Err(SaslError::Server { message, .. }) => assert!(message.contains("invalid_token")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            m.respond(JSON),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn oauthbearer_rfc7628_example() {
        // RFC 7628 §4.1.
        let c = Credentials::new(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==",
        );
        let mut m = OAuthBearer::new(&c, "server.example.com", 143).unwrap();
        assert_eq!(m.name(), "OAUTHBEARER");
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01\
              auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\x01\x01"
                .as_slice()
        );
        m.complete().unwrap();
    }

    #[test]
    fn oauthbearer_error_challenge() {
        // RFC 7628 §4.3: the server's error, the client's %x01.
        let mut m = OAuthBearer::new(&Credentials::new("u", "tok"), "h", 587).unwrap();
        m.initial_response().unwrap();
        assert_eq!(m.respond(JSON).unwrap().to_vec(), b"\x01");
        assert!(m.server_error().unwrap().contains("invalid_token"));
        assert!(m.complete().is_err());
        assert!(m.respond(b"").is_err());
    }

    #[test]
    fn oauthbearer_authzid_and_escaping() {
        let c = Credentials::new("u", "tok").with_authzid("a,b=c");
        let mut m = OAuthBearer::new(&c, "h", 25).unwrap();
        let r = m.initial_response().unwrap().unwrap();
        assert!(r.starts_with(b"n,a=a=2Cb=3Dc,\x01host=h\x01port=25\x01"));
    }

    #[test]
    fn without_initial_response() {
        let mut m = OAuthBearer::new(&Credentials::new("u", "tok"), "h", 25).unwrap();
        let r = m.respond(b"").unwrap();
        assert!(r.ends_with(b"auth=Bearer tok\x01\x01"));
        m.complete().unwrap();
        let mut m = XOAuth2::new(&Credentials::new("u", "tok")).unwrap();
        assert!(m.respond(b"{}").is_err());
    }

    #[test]
    fn bad_tokens_and_names_are_refused() {
        for (user, token) in [("u", ""), ("u", "a\x01b"), ("u", "a b"), ("u\x01", "t")] {
            let c = Credentials::new(user, token);
            assert!(XOAuth2::new(&c).is_err(), "{user:?}");
            assert!(OAuthBearer::new(&c, "h", 1).is_err(), "{user:?}");
        }
        assert!(OAuthBearer::new(&Credentials::new("u", "t"), "h\x01", 1).is_err());
        let err = XOAuth2::new(&Credentials::new("u", "sec ret"))
            .err()
            .unwrap();
        assert!(!err.to_string().contains("sec"));
    }
}
