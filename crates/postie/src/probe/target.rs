//! The target, `HOST[:PORT]` or a Unix socket's path, and the EHLO name,
//! as the command line gives them.

use rustls::pki_types::ServerName;

/// A host and port to probe, or the path of a Unix socket. It is the
/// library's own type so that a path is told from a host by the rule of
/// `postie send --server` ([`postie_smtp::ServerAddr::is_unix`]: a path
/// starting with `/`) and shown the way `send` shows it.
pub(super) type Target = postie_smtp::ServerAddr;

/// Reads `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT`, a bare IPv6 address
/// (a missing port is `default_port`), or a path starting with `/`: a
/// Unix socket, whose port is unused (0).
pub(super) fn parse(text: &str, default_port: u16) -> Result<Target, String> {
    let text = text.trim();
    if text.starts_with('/') {
        return socket(text);
    }
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
        // A relative path would otherwise be called a bad host name.
        let relative = if host.contains('/') {
            " (a Unix socket is given by its full path, starting with /)"
        } else {
            ""
        };
        return Err(format!(
            "bad target {text:?}: {host:?} is not a host name or IP address{relative}"
        ));
    }
    Ok(Target {
        host: host.to_owned(),
        port,
    })
}

/// A Unix socket's path, taken whole: a colon in it is part of the name,
/// not a port.
fn socket(path: &str) -> Result<Target, String> {
    // The path is quoted in every message and report line, which must
    // stay one line each.
    if path.chars().any(char::is_control) {
        return Err(format!(
            "bad target {path:?}: a socket path without control characters"
        ));
    }
    Ok(Target {
        host: path.to_owned(),
        port: 0,
    })
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
        let t = |text: &str| parse(text, 25);
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
        assert_eq!(parse("x.org", 465).unwrap().to_string(), "x.org:465");
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
            assert!(parse(bad, 25).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_path_is_a_unix_socket_and_shown_as_it_is() {
        let target = parse(" /run/dovecot/lmtp ", 24).unwrap();
        assert!(target.is_unix());
        assert_eq!(target.host, "/run/dovecot/lmtp");
        assert_eq!(target.to_string(), "/run/dovecot/lmtp");
        // A colon in a path is part of its name.
        assert_eq!(parse("/tmp/a:24", 24).unwrap().host, "/tmp/a:24");
        assert!(!parse("localhost:24", 24).unwrap().is_unix());
        assert!(parse("/tmp/a\nb", 24).is_err());
        let relative = parse("run/lmtp", 24).unwrap_err();
        assert!(relative.contains("starting with /"), "{relative}");
    }

    #[test]
    fn the_client_name_is_one_printable_word() {
        assert!(checked_client("client.example").is_ok());
        assert!(checked_client("a b").is_err());
        assert!(checked_client("a\r\nMAIL FROM:<x>").is_err());
        assert!(checked_client("").is_err());
    }
}
