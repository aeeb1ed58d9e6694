//! DIGEST-MD5 (RFC 2831, now historic), as servers still offer it: the
//! `auth` quality of protection only (no integrity or confidentiality
//! layer), `algorithm=md5-sess`, `charset=utf-8` when the server offers it.
//!
//! The exchange has two challenges. The first is a list of directives
//! (`realm`, `nonce`, `qop`, `charset`, `algorithm`...), answered with the
//! digest response. The second is `rspauth=<hex>`, the server's proof that it
//! knows the password; it is verified, and answered with an empty response.
//! [`Mechanism::complete`] fails until that proof has been checked.
//!
//! The digest-uri is `smtp/` followed by the first realm of the challenge,
//! or the server's host name when there is none: what tcllib sends, and
//! what Cyrus SASL expects when its realm is the server's name.

use md5::{Digest as _, Md5};

use super::{
    ct_eq, hex, printable, random_base64, Credentials, Mechanism, SaslError, Secret, Zeroizing,
};

const NAME: &str = "DIGEST-MD5";

/// The nonce count: one response per nonce.
const NC: &str = "00000001";

/// A run of DIGEST-MD5.
pub(crate) struct DigestMd5 {
    username: String,
    password: Secret,
    authzid: Option<String>,
    service: String,
    host: String,
    cnonce: String,
    state: State,
}

enum State {
    /// Waiting for the digest-challenge.
    Start,
    /// The response went out; waiting for `rspauth`, which must equal this
    /// (lowercase hex).
    AwaitRspauth { expected: Zeroizing<String> },
    /// The server's proof was verified.
    Verified,
    /// An error ended the run.
    Failed,
}

impl DigestMd5 {
    /// For SMTP, with a random client nonce.
    pub(crate) fn new(credentials: &Credentials, host: &str) -> Result<Self, SaslError> {
        Self::with_cnonce(credentials, "smtp", host, random_base64(24)?)
    }

    /// With a chosen service name (`smtp` for us, `imap` in the RFC's
    /// example) and client nonce, for tests.
    pub(crate) fn with_cnonce(
        credentials: &Credentials,
        service: &str,
        host: &str,
        cnonce: String,
    ) -> Result<Self, SaslError> {
        let has_ctl = |s: &str| s.chars().any(char::is_control);
        if has_ctl(&credentials.username) {
            return Err(invalid("the username contains a control character"));
        }
        if credentials.authzid.as_deref().is_some_and(has_ctl) {
            return Err(invalid(
                "the authorization identity contains a control character",
            ));
        }
        if has_ctl(host) {
            return Err(invalid("the host name contains a control character"));
        }
        Ok(Self {
            username: credentials.username.clone(),
            password: credentials.secret.clone(),
            authzid: credentials.authzid.clone(),
            service: service.to_owned(),
            host: host.to_owned(),
            cnonce,
            state: State::Start,
        })
    }

    /// Answers the digest-challenge; returns the response and the rspauth
    /// to expect.
    #[allow(clippy::type_complexity)]
    fn digest_response(
        &self,
        challenge: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Zeroizing<String>), SaslError> {
        let directives = parse_directives(challenge).map_err(malformed)?;
        let mut realm: Option<&[u8]> = None;
        let mut nonce: Option<&[u8]> = None;
        let mut qop: Option<&[u8]> = None;
        let mut charset: Option<&[u8]> = None;
        let mut algorithm: Option<&[u8]> = None;
        for (key, value) in &directives {
            let slot = match key.as_str() {
                "realm" => {
                    // Several realms may be offered; we take the first.
                    realm.get_or_insert(value);
                    continue;
                }
                "nonce" => &mut nonce,
                "qop" => &mut qop,
                "charset" => &mut charset,
                "algorithm" => &mut algorithm,
                // stale, maxbuf, cipher and anything unknown.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(malformed(format!("{key} appears more than once")));
            }
        }
        let nonce = nonce.ok_or_else(|| malformed("no nonce".to_owned()))?;
        if nonce.is_empty() {
            return Err(malformed("empty nonce".to_owned()));
        }
        // RFC 2831: qop-options "defaults to auth" when absent.
        if let Some(qop) = qop {
            let offers_auth = qop
                .split(|&b| b == b',')
                .any(|o| o.trim_ascii().eq_ignore_ascii_case(b"auth"));
            if !offers_auth {
                return Err(SaslError::Unsupported {
                    mechanism: NAME,
                    reason: format!(
                        "the server does not offer qop=auth (only {})",
                        printable(qop)
                    ),
                });
            }
        }
        let utf8 = match charset {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(c) => return Err(malformed(format!("unknown charset {}", printable(c)))),
        };
        // The directive is required, but some servers leave it out; md5-sess
        // is the only algorithm SASL defines, so its absence means that.
        if let Some(a) = algorithm {
            if !a.eq_ignore_ascii_case(b"md5-sess") {
                return Err(SaslError::Unsupported {
                    mechanism: NAME,
                    reason: format!("algorithm {}", printable(a)),
                });
            }
        }

        // The strings as sent, and as hashed. With charset=utf-8 they are
        // sent in UTF-8 but hashed in ISO 8859-1 when each fits (RFC 2831
        // §2.1.2.1, as Cyrus SASL does it, string by string); without it,
        // everything is ISO 8859-1.
        let (user_wire, user_hashed) = if utf8 {
            let user = self.username.as_bytes().to_vec();
            (user, latin1_if_possible(&self.username))
        } else {
            let user = latin1(&self.username).ok_or(invalid(
                "the username cannot be sent in ISO 8859-1 (the server does not offer UTF-8)",
            ))?;
            (user.clone(), user)
        };
        // The password again, and below the hashes that stand for it: all
        // wiped on drop.
        let pass_hashed = Zeroizing::new(if utf8 {
            latin1_if_possible(self.password.expose())
        } else {
            latin1(self.password.expose()).ok_or(invalid(
                "the password cannot be sent in ISO 8859-1 (the server does not offer UTF-8)",
            ))?
        });
        let realm_hashed = match realm {
            None => Vec::new(),
            Some(r) if utf8 => match std::str::from_utf8(r) {
                Ok(s) => latin1_if_possible(s),
                Err(_) => return Err(malformed("the realm is not UTF-8".to_owned())),
            },
            Some(r) => r.to_vec(),
        };
        let mut digest_uri = self.service.as_bytes().to_vec();
        digest_uri.push(b'/');
        digest_uri.extend_from_slice(realm.unwrap_or(self.host.as_bytes()));

        let cnonce = self.cnonce.as_bytes();
        let secret = Zeroizing::new(md5(&[
            &user_hashed,
            b":",
            &realm_hashed,
            b":",
            &pass_hashed,
        ]));
        let mut a1: Vec<&[u8]> = vec![&*secret, b":", nonce, b":", cnonce];
        if let Some(authzid) = &self.authzid {
            a1.extend([b":".as_slice(), authzid.as_bytes()]);
        }
        let mut ha1_bytes = md5(&a1);
        let ha1 = Zeroizing::new(hex(&ha1_bytes));
        zeroize::Zeroize::zeroize(&mut ha1_bytes);
        let kd = |a2_prefix: &[u8]| {
            let ha2 = hex(&md5(&[a2_prefix, &digest_uri]));
            let digest = md5(&[
                ha1.as_bytes(),
                b":",
                nonce,
                b":",
                NC.as_bytes(),
                b":",
                cnonce,
                b":auth:",
                ha2.as_bytes(),
            ]);
            Zeroizing::new(hex(&digest))
        };
        let response = kd(b"AUTHENTICATE:");
        let rspauth = kd(b":");

        // Sized for the usual response, so that it is not regrown (each
        // regrowth frees a copy without wiping it).
        let quoted = user_wire.len()
            + realm.map_or(0, <[u8]>::len)
            + nonce.len()
            + cnonce.len()
            + digest_uri.len()
            + self.authzid.as_ref().map_or(0, String::len);
        // Twice the quoted strings: each byte may need a backslash.
        let mut out = Zeroizing::new(Vec::with_capacity(160 + 2 * quoted));
        if utf8 {
            out.extend_from_slice(b"charset=utf-8,");
        }
        out.extend_from_slice(b"username=");
        quote(&mut out, &user_wire);
        if let Some(realm) = realm {
            out.extend_from_slice(b",realm=");
            quote(&mut out, realm);
        }
        out.extend_from_slice(b",nonce=");
        quote(&mut out, nonce);
        out.extend_from_slice(b",nc=");
        out.extend_from_slice(NC.as_bytes());
        out.extend_from_slice(b",cnonce=");
        quote(&mut out, cnonce);
        out.extend_from_slice(b",digest-uri=");
        quote(&mut out, &digest_uri);
        out.extend_from_slice(b",response=");
        out.extend_from_slice(response.as_bytes());
        out.extend_from_slice(b",qop=auth");
        if let Some(authzid) = &self.authzid {
            out.extend_from_slice(b",authzid=");
            quote(&mut out, authzid.as_bytes());
        }
        Ok((out, rspauth))
    }
}

impl Mechanism for DigestMd5 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(None)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Start => {
                let (response, expected) = self.digest_response(challenge)?;
                self.state = State::AwaitRspauth { expected };
                Ok(response)
            }
            State::AwaitRspauth { expected } => {
                let directives = parse_directives(challenge).map_err(malformed)?;
                let got = directives
                    .iter()
                    .find(|(k, _)| k == "rspauth")
                    .map(|(_, v)| v.to_ascii_lowercase())
                    .ok_or_else(|| malformed("no rspauth in the second challenge".to_owned()))?;
                if !ct_eq(&got, expected.as_bytes()) {
                    return Err(SaslError::ServerProofMismatch { mechanism: NAME });
                }
                self.state = State::Verified;
                Ok(Zeroizing::new(Vec::new()))
            }
            State::Verified | State::Failed => {
                Err(SaslError::UnexpectedChallenge { mechanism: NAME })
            }
        }
    }

    fn complete(&self) -> Result<(), SaslError> {
        match self.state {
            State::Verified => Ok(()),
            _ => Err(SaslError::MutualAuthMissing { mechanism: NAME }),
        }
    }
}

fn invalid(reason: &'static str) -> SaslError {
    SaslError::InvalidInput {
        mechanism: NAME,
        reason,
    }
}

fn malformed(reason: String) -> SaslError {
    SaslError::MalformedChallenge {
        mechanism: NAME,
        reason,
    }
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `s` in ISO 8859-1, if every character fits.
fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// `s` in ISO 8859-1 if every character fits, else in UTF-8.
fn latin1_if_possible(s: &str) -> Vec<u8> {
    latin1(s).unwrap_or_else(|| s.as_bytes().to_vec())
}

/// Appends `value` as a quoted-string.
fn quote(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A `token` character of RFC 2616: no controls, no separators.
fn is_token(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// Parses a comma-separated list of `key=value` / `key="quoted value"`
/// directives. Keys come back in lowercase; quoted-pairs are undone; empty
/// list elements and linear white space around the pieces are allowed.
fn parse_directives(input: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let skip_lws = |i: &mut usize| {
        while input.get(*i).copied().is_some_and(is_lws) {
            *i += 1;
        }
    };
    loop {
        while input
            .get(i)
            .copied()
            .is_some_and(|b| is_lws(b) || b == b',')
        {
            i += 1;
        }
        if i >= input.len() {
            break;
        }
        let start = i;
        while input.get(i).copied().is_some_and(is_token) {
            i += 1;
        }
        let key = input.get(start..i).unwrap_or_default();
        if key.is_empty() {
            return Err(format!(
                "expected a directive name at byte {start}, found {}",
                printable(input.get(start..=start).unwrap_or_default())
            ));
        }
        let key = String::from_utf8_lossy(key).to_ascii_lowercase();
        skip_lws(&mut i);
        if input.get(i) != Some(&b'=') {
            return Err(format!("directive {key} has no value"));
        }
        i += 1;
        skip_lws(&mut i);
        let mut value = Vec::new();
        if input.get(i) == Some(&b'"') {
            i += 1;
            let mut closed = false;
            while let Some(&b) = input.get(i) {
                i += 1;
                match b {
                    b'"' => {
                        closed = true;
                        break;
                    }
                    b'\\' => {
                        if let Some(&next) = input.get(i) {
                            value.push(next);
                            i += 1;
                        }
                    }
                    b => value.push(b),
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value for {key}"));
            }
        } else {
            while let Some(&b) = input.get(i) {
                if is_lws(b) || b == b',' || b == b'"' || b.is_ascii_control() {
                    break;
                }
                value.push(b);
                i += 1;
            }
        }
        skip_lws(&mut i);
        if let Some(&b) = input.get(i) {
            if b != b',' {
                return Err(format!(
                    "unexpected {} after the value of {key}",
                    printable(&[b])
                ));
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chris(service: &str, cnonce: &str) -> DigestMd5 {
        DigestMd5::with_cnonce(
            &Credentials::new("chris", "secret"),
            service,
            "elwood.innosoft.com",
            cnonce.to_owned(),
        )
        .unwrap()
    }

    #[test]
    fn rfc2831_imap_example() {
        let mut m = chris("imap", "OA6MHXh6VqTrRk");
        assert_eq!(m.initial_response().unwrap(), None);
        let response = m
            .respond(
                b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",\
                  algorithm=md5-sess,charset=utf-8",
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(response.to_vec()).unwrap(),
            "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
             nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
             digest-uri=\"imap/elwood.innosoft.com\",\
             response=d388dad90d4bbd760a152321f2143af7,qop=auth"
        );
        assert!(matches!(
            m.complete(),
            Err(SaslError::MutualAuthMissing { .. })
        ));
        let last = m
            .respond(b"rspauth=ea40f60335c427b5527b84dbabcdfffd")
            .unwrap();
        assert!(last.is_empty());
        m.complete().unwrap();
        assert!(matches!(
            m.respond(b"rspauth=ea40f60335c427b5527b84dbabcdfffd"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn rfc2831_acap_example() {
        let mut m = chris("acap", "OA9BSuZWMSpW8m");
        let response = m
            .respond(
                b"realm=\"elwood.innosoft.com\",nonce=\"OA9BSXrbuRhWay\",qop=\"auth\",\
                  algorithm=md5-sess,charset=utf-8",
            )
            .unwrap();
        let response = String::from_utf8(response.to_vec()).unwrap();
        assert!(
            response.contains(",response=6084c6db3fede7352c551284490fd0fc,"),
            "{response}"
        );
        m.respond(b"rspauth=2f0b3d7c3c2e486600ef710726aa2eae")
            .unwrap();
        m.complete().unwrap();
    }

    #[test]
    fn wrong_rspauth_is_an_error() {
        let mut m = chris("imap", "OA6MHXh6VqTrRk");
        m.respond(b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8")
            .unwrap();
        assert!(matches!(
            m.respond(b"rspauth=ea40f60335c427b5527b84dbabcdfffe"),
            Err(SaslError::ServerProofMismatch { .. })
        ));
        assert!(m.complete().is_err());
        assert!(m
            .respond(b"rspauth=ea40f60335c427b5527b84dbabcdfffd")
            .is_err());
    }

    #[test]
    fn rspauth_is_case_insensitive_and_may_be_quoted() {
        let mut m = chris("imap", "OA6MHXh6VqTrRk");
        m.respond(b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8")
            .unwrap();
        m.respond(b" rspauth = \"EA40F60335C427B5527B84DBABCDFFFD\" ")
            .unwrap();
        m.complete().unwrap();
    }

    #[test]
    fn missing_rspauth_is_an_error() {
        let mut m = chris("imap", "x");
        m.respond(b"nonce=\"abc\",qop=auth,algorithm=md5-sess")
            .unwrap();
        assert!(m.respond(b"").is_err());
        let mut m = chris("imap", "x");
        m.respond(b"nonce=\"abc\",qop=auth,algorithm=md5-sess")
            .unwrap();
        assert!(m.respond(b"foo=bar").is_err());
        assert!(m.complete().is_err());
    }

    #[test]
    fn smtp_digest_uri_uses_first_realm_or_host() {
        let creds = Credentials::new("u", "p");
        let mut m = DigestMd5::with_cnonce(&creds, "smtp", "mx.example.org", "cn".into()).unwrap();
        let r = m
            .respond(b"realm=\"first.example\",realm=\"second.example\",nonce=\"n\",qop=\"auth,auth-int\",algorithm=md5-sess")
            .unwrap();
        let r = String::from_utf8(r.to_vec()).unwrap();
        assert!(r.contains("realm=\"first.example\""), "{r}");
        assert!(!r.contains("second"), "{r}");
        assert!(r.contains("digest-uri=\"smtp/first.example\""), "{r}");
        assert!(!r.contains("charset"), "{r}");

        let mut m = DigestMd5::with_cnonce(&creds, "smtp", "mx.example.org", "cn".into()).unwrap();
        let r = m.respond(b"nonce=\"n\",algorithm=md5-sess").unwrap();
        let r = String::from_utf8(r.to_vec()).unwrap();
        assert!(!r.contains("realm="), "{r}");
        assert!(r.contains("digest-uri=\"smtp/mx.example.org\""), "{r}");
        assert!(r.contains("qop=auth"), "{r}");
    }

    #[test]
    fn authzid_only_when_given_and_quotes_escaped() {
        let creds = Credentials::new("a\"b\\c", "p").with_authzid("boss");
        let mut m = DigestMd5::with_cnonce(&creds, "smtp", "h", "cn".into()).unwrap();
        let r = m.respond(b"nonce=\"n\\\"x\",qop=auth").unwrap();
        let r = String::from_utf8(r.to_vec()).unwrap();
        assert!(r.starts_with("username=\"a\\\"b\\\\c\","), "{r}");
        assert!(r.contains("nonce=\"n\\\"x\""), "{r}");
        assert!(r.ends_with(",qop=auth,authzid=\"boss\""), "{r}");
    }

    #[test]
    fn authzid_changes_the_response() {
        let challenge: &[u8] = b"nonce=\"n\",qop=auth,charset=utf-8";
        let plain = Credentials::new("u", "p");
        let r1 = DigestMd5::with_cnonce(&plain, "smtp", "h", "cn".into())
            .unwrap()
            .respond(challenge)
            .unwrap();
        let r2 = DigestMd5::with_cnonce(&plain.with_authzid("z"), "smtp", "h", "cn".into())
            .unwrap()
            .respond(challenge)
            .unwrap();
        let resp = |r: &[u8]| {
            let s = String::from_utf8(r.to_vec()).unwrap();
            let i = s.find("response=").unwrap();
            s[i..i + 41].to_owned()
        };
        assert_ne!(resp(&r1), resp(&r2));
    }

    #[test]
    fn non_latin1_needs_utf8_charset() {
        let creds = Credentials::new("\u{4e2d}", "p");
        let mut m = DigestMd5::with_cnonce(&creds, "smtp", "h", "cn".into()).unwrap();
        assert!(matches!(
            m.respond(b"nonce=n,qop=auth"),
            Err(SaslError::InvalidInput { .. })
        ));
        let mut m = DigestMd5::with_cnonce(&creds, "smtp", "h", "cn".into()).unwrap();
        let r = m.respond(b"nonce=n,qop=auth,charset=UTF-8").unwrap();
        assert!(r.starts_with("charset=utf-8,username=\"\u{4e2d}\"".as_bytes()));
    }

    #[test]
    fn latin1_conversion_for_hashing() {
        // "jörg" hashed in ISO 8859-1 under charset=utf-8 must give the
        // same digest as "jörg" sent in ISO 8859-1 without it.
        let creds = Credentials::new("j\u{f6}rg", "p\u{e4}ss");
        let get = |challenge: &[u8]| {
            let r = DigestMd5::with_cnonce(&creds, "smtp", "h", "cn".into())
                .unwrap()
                .respond(challenge)
                .unwrap();
            let i = r.windows(9).position(|w| w == b"response=").unwrap();
            r[i..i + 41].to_vec()
        };
        assert_eq!(
            get(b"nonce=n,qop=auth,charset=utf-8"),
            get(b"nonce=n,qop=auth")
        );
    }

    #[test]
    fn malformed_challenges_are_errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"qop=auth",
            b"nonce",
            b"nonce=",
            b"nonce=\"abc",
            b"nonce=\"abc\\",
            b"nonce=abc def",
            b"nonce=\"a\"x",
            b"=abc",
            b"nonce=a,nonce=b",
            b"nonce=a,qop=\"auth-int,auth-conf\"",
            b"nonce=a,algorithm=md5",
            b"nonce=a,charset=latin1",
            b"nonce=a,charset=utf-8,realm=\"\xff\"",
            b"nonce=a,qop=auth,qop=auth",
            b"\xff\xfe",
            b",,,",
            b"nonce=a b",
            b"nonce=\"a\" \"b\"",
        ];
        for challenge in bad {
            let mut m = chris("smtp", "cn");
            assert!(
                m.respond(challenge).is_err(),
                "{}",
                String::from_utf8_lossy(challenge)
            );
            assert!(m.complete().is_err());
        }
    }

    #[test]
    fn parser_is_forgiving_where_it_can_be() {
        let d = parse_directives(
            b" Realm = \"a\\\\b\\\"c\" ,, NONCE=xyz ,\tstale=true, maxbuf=65536,cipher=\"rc4,des\",x-new=\"?\"",
        )
        .unwrap();
        let get = |k: &str| d.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("realm").unwrap(), b"a\\b\"c");
        assert_eq!(get("nonce").unwrap(), b"xyz");
        assert_eq!(get("cipher").unwrap(), b"rc4,des");
        assert_eq!(get("x-new").unwrap(), b"?");
        assert_eq!(d.len(), 6);
    }

    #[test]
    fn unknown_and_extra_directives_are_ignored() {
        let mut m = chris("imap", "OA6MHXh6VqTrRk");
        let r = m
            .respond(
                b" realm=\"elwood.innosoft.com\" , nonce=\"OA6MG9tEQGm2hh\",\r\n qop=\"auth, auth-int\",\
                  algorithm=MD5-SESS, charset=utf-8, maxbuf=1024, cipher=\"rc4\", future=\"x,y\"",
            )
            .unwrap();
        assert!(String::from_utf8(r.to_vec())
            .unwrap()
            .contains("response=d388dad90d4bbd760a152321f2143af7"));
    }
}
