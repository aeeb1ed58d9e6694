//! The target, `HOST[:PORT]`, and the EHLO name, as the command line
//! gives them.

use rustls::pki_types::ServerName;

/// A host and port to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Target {
    /// A name or an IP address, without brackets.
    pub(super) host: String,
    pub(super) port: u16,
}

impl Target {
    /// Reads `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT` or a bare IPv6
    /// address; a missing port is `default_port`.
    pub(super) fn parse(text: &str, default_port: u16) -> Result<Self, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("bad target {text:?}: '[' without ']'"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("bad target {text:?}: text after ']'")),
                },
            }
        } else if text.matches(':').count() > 1 {
            // More than one colon and no brackets: a bare IPv6 address.
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port {port:?} in {text:?}: give 1 to 65535"))?,
        };
        // The host doubles as the TLS server name, so it must be a DNS name
        // or an IP address; this also keeps spaces and control characters
        // out of every message that quotes it.
        if host.is_empty() || ServerName::try_from(host).is_err() {
            return Err(format!(
                "bad target {text:?}: {host:?} is not a host name or IP address"
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The EHLO name goes into a command line, so it must be one word of
/// printable ASCII.
pub(super) fn checked_client(name: &str) -> Result<String, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "bad --client {name:?}: give a host name (printable ASCII, no spaces)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn targets_with_and_without_ports() {
        let t = |text: &str| Target::parse(text, 25);
        assert_eq!(
            t("mail.example.org").unwrap(),
            Target {
                host: "mail.example.org".into(),
                port: 25
            }
        );
        assert_eq!(t("localhost:2525").unwrap().port, 2525);
        assert_eq!(t("[::1]:587").unwrap().host, "::1");
        assert_eq!(t("[::1]:587").unwrap().port, 587);
        assert_eq!(t("[::1]").unwrap().port, 25);
        assert_eq!(t("::1").unwrap().host, "::1");
        assert_eq!(t("[::1]:587").unwrap().to_string(), "[::1]:587");
        assert_eq!(
            Target::parse("x.org", 465).unwrap().to_string(),
            "x.org:465"
        );
    }

    #[test]
    fn bad_targets_are_refused() {
        for bad in [
            "",
            ":25",
            "host:",
            "host:0",
            "host:70000",
            "host:smtp",
            "[::1",
            "[::1]x",
            "two words",
            "a\r\nb",
        ] {
            assert!(Target::parse(bad, 25).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_name_is_one_printable_word() {
        assert!(checked_client("client.example").is_ok());
        assert!(checked_client("a b").is_err());
        assert!(checked_client("a\r\nMAIL FROM:<x>").is_err());
        assert!(checked_client("").is_err());
    }
}
