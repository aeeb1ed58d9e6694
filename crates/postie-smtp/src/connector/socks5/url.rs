//! A proxy given as a URL: `socks5://[user@]host[:port]`.

use crate::settings::ProxySettings;

/// The port a proxy URL without one gets (RFC 1928 §3).
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// Why a proxy URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proxy {url:?}: {reason}")]
pub struct ProxyUrlError {
    url: String,
    reason: String,
}

impl ProxyUrlError {
    /// The URL is kept for the message with any password in it replaced.
    fn new(url: &str, reason: impl Into<String>) -> Self {
        Self {
            url: redacted(url),
            reason: reason.into(),
        }
    }

    /// What is wrong with the URL, without the URL.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl ProxySettings {
    /// Reads `socks5://[user@]host[:port]` (`socks5h://` is the same: the
    /// proxy always resolves the servers' names). The port defaults to
    /// 1080; an IPv6 address goes in brackets; a user may hold `%XX`
    /// escapes (`%40` for `@`). A password in the URL is refused: it would
    /// be seen in the process list and in shell histories, so it comes
    /// from elsewhere ([`crate::SendOptions::proxy_password`], postie's
    /// `--proxy-password-env`).
    ///
    /// ```
    /// use postie_smtp::ProxySettings;
    /// let p = ProxySettings::from_url("socks5://bob@[::1]:1081")?;
    /// assert_eq!((p.host.as_str(), p.port, p.username.as_deref()), ("::1", 1081, Some("bob")));
    /// assert!(ProxySettings::from_url("socks5://bob:secret@proxy.example").is_err());
    /// # Ok::<(), postie_smtp::connector::socks5::ProxyUrlError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, ProxyUrlError> {
        let err = |reason: &str| ProxyUrlError::new(url, reason);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("expected socks5://[user@]host[:port]"))?;
        if !scheme.eq_ignore_ascii_case("socks5") && !scheme.eq_ignore_ascii_case("socks5h") {
            return Err(err(&format!(
                "the scheme must be socks5 (postie speaks SOCKS5 only), not {scheme:?}"
            )));
        }
        // One trailing slash, as URLs are often written; no path or query.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(err("a proxy URL has no path, query or fragment"));
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, rest),
        };
        let username = match user {
            Some(user) if user.contains(':') => {
                return Err(err(
                    "the password does not go in the URL (process lists and shell histories show it); give it separately",
                ))
            }
            Some(user) => {
                let user = percent_decode(user).ok_or_else(|| err("the user has a bad %XX escape"))?;
                if user.is_empty() || user.len() > 255 {
                    return Err(err("the user must be 1 to 255 bytes long"));
                }
                Some(user)
            }
            None => None,
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| {
            err("expected HOST, HOST:PORT or [IPv6]:PORT after the scheme (and user@)")
        })?;
        let port = match port {
            None => DEFAULT_PROXY_PORT,
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| err("the port must be a number from 1 to 65535"))?,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("the host is empty or holds white space"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            username,
            secret: None,
        })
    }
}

/// `url` with what follows a colon in its user part (a password) replaced
/// by `[redacted]`.
fn redacted(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}:[redacted]{}", &url[..start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match text.split_once(':') {
        // A second colon: an IPv6 address without brackets.
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((text, None)),
    }
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, u16, Option<String>) {
        let p = ProxySettings::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(p.secret, None);
        (p.host, p.port, p.username)
    }

    #[test]
    fn urls_that_name_a_proxy() {
        assert_eq!(
            parsed("socks5://127.0.0.1:10062"),
            ("127.0.0.1".into(), 10062, None)
        );
        assert_eq!(
            parsed("SOCKS5h://proxy.example/"),
            ("proxy.example".into(), 1080, None)
        );
        assert_eq!(
            parsed("socks5://bob@[::1]:1081"),
            ("::1".into(), 1081, Some("bob".into()))
        );
        assert_eq!(parsed("socks5://[::1]"), ("::1".into(), 1080, None));
        assert_eq!(
            parsed("socks5://bob%40corp@proxy:1"),
            ("proxy".into(), 1, Some("bob@corp".into()))
        );
    }

    #[test]
    fn urls_that_do_not() {
        for (url, says) in [
            ("127.0.0.1:1080", "socks5://"),
            ("http://proxy:3128", "SOCKS5 only"),
            ("socks4://proxy:1080", "SOCKS5 only"),
            ("socks5://bob:hunter2@proxy:1080", "does not go in the URL"),
            ("socks5://proxy:0", "1 to 65535"),
            ("socks5://proxy:65536", "1 to 65535"),
            ("socks5://proxy:http", "1 to 65535"),
            ("socks5://", "host is empty"),
            ("socks5://@proxy", "1 to 255"),
            ("socks5://b%4@proxy", "escape"),
            ("socks5://::1:1080", "[IPv6]:PORT"),
            ("socks5://[::1:1080", "[IPv6]:PORT"),
            ("socks5://[nope]:1080", "[IPv6]:PORT"),
            ("socks5://proxy:1080/path", "no path"),
            ("socks5://pro xy:1080", "white space"),
        ] {
            let e = ProxySettings::from_url(url).expect_err(url);
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
        // The password is not repeated in the error.
        let e = ProxySettings::from_url("socks5://bob:hunter2@proxy:1080").unwrap_err();
        let shown = e.to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains("socks5://bob:[redacted]@proxy:1080"),
            "{shown}"
        );
    }
}
