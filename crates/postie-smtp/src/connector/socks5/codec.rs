//! The SOCKS5 handshake without I/O: what to write to the proxy, how many
//! bytes to read back, and what those bytes mean (RFC 1928 for the method
//! choice and CONNECT, RFC 1929 for the username and password).
//!
//! Both drivers run the same [`Handshake`]: it asks for exactly the number
//! of bytes each reply still needs, so no byte of the server's greeting
//! that follows the proxy's last reply is ever read here.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::Failure;
use crate::sasl::Secret;

/// The protocol version byte of every SOCKS5 message but the RFC 1929
/// subnegotiation.
const VERSION: u8 = 5;
/// The RFC 1929 subnegotiation's version byte.
const AUTH_VERSION: u8 = 1;
/// Method 0x00: no authentication.
const NO_AUTH: u8 = 0x00;
/// Method 0x02: username and password (RFC 1929).
const USER_PASSWORD: u8 = 0x02;
/// The method choice meaning "none of those".
const NO_ACCEPTABLE: u8 = 0xFF;
/// The CONNECT command.
const CONNECT: u8 = 0x01;
/// Address types.
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// What the handshake needs done next.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Write all of these bytes to the proxy (the username and password
    /// request is among them: the buffer is wiped when dropped).
    Write(Zeroizing<Vec<u8>>),
    /// Read exactly this many bytes and give them to
    /// [`Handshake::received`].
    Read(usize),
    /// The proxy connected to the server: what follows on the connection
    /// is the server's.
    Done,
    /// A reply was refused ([`Handshake::received`] said why); nothing
    /// more is to be done.
    Failed,
}

/// Shows how many bytes a write holds, never the bytes: one of them is the
/// password.
impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write(bytes) => write!(f, "Write({} bytes)", bytes.len()),
            Self::Read(n) => write!(f, "Read({n})"),
            Self::Done => f.write_str("Done"),
            Self::Failed => f.write_str("Failed"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SendGreeting,
    AwaitMethod,
    SendAuth,
    AwaitAuth,
    SendConnect,
    AwaitReplyHead,
    AwaitReplyTail(usize),
    Done,
    Failed,
}

/// One SOCKS5 handshake: the greeting and the method choice, the username
/// and password when the proxy chose them, and CONNECT to the server.
///
/// ```
/// use postie_smtp::connector::socks5::{Handshake, Next};
///
/// let mut h = Handshake::new("mx.example.org", 25, None)?;
/// assert_eq!(h.poll(), Next::Write(vec![5, 1, 0].into()));
/// assert_eq!(h.poll(), Next::Read(2));
/// h.received(&[5, 0])?; // no authentication
/// let Next::Write(request) = h.poll() else { unreachable!() };
/// assert_eq!(request[..5], [5, 1, 0, 3, 14]); // CONNECT, a name of 14 bytes
/// assert_eq!(h.poll(), Next::Read(5));
/// h.received(&[5, 0, 0, 1, 10])?; // succeeded, bound to an IPv4 address
/// assert_eq!(h.poll(), Next::Read(5));
/// h.received(&[0, 0, 1, 0x04, 0x38])?;
/// assert_eq!(h.poll(), Next::Done);
/// # Ok::<(), postie_smtp::connector::socks5::Failure>(())
/// ```
pub struct Handshake {
    state: State,
    /// The CONNECT request, made (and its target checked) up front.
    request: Vec<u8>,
    /// The user and password, when configured.
    credentials: Option<(String, Secret)>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("state", &self.state)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// A handshake asking the proxy for `host`:`port`: an IP address goes
    /// as one (ATYP 1 or 4), a name as a name (ATYP 3) for the proxy to
    /// resolve. `credentials` (a user and password, each of 1 to 255
    /// bytes) are offered besides no authentication.
    pub fn new(
        host: &str,
        port: u16,
        credentials: Option<(&str, &Secret)>,
    ) -> Result<Self, Failure> {
        let credentials = match credentials {
            Some((user, password)) => {
                check_credential_lengths(user, password)?;
                Some((user.to_owned(), password.clone()))
            }
            None => None,
        };
        Ok(Self {
            state: State::SendGreeting,
            request: connect_request(host, port)?,
            credentials,
        })
    }

    /// What to do now. A [`Next::Write`] is handed out once (the
    /// handshake then waits for the reply); a [`Next::Read`] is asked for
    /// until [`Handshake::received`] is given the bytes.
    pub fn poll(&mut self) -> Next {
        match self.state {
            State::SendGreeting => {
                self.state = State::AwaitMethod;
                Next::Write(Zeroizing::new(greeting(self.credentials.is_some())))
            }
            State::SendAuth => {
                self.state = State::AwaitAuth;
                let request = match &self.credentials {
                    Some((user, password)) => auth_request(user, password),
                    // Only reached with credentials (see `received`).
                    None => Zeroizing::new(Vec::new()),
                };
                Next::Write(request)
            }
            State::SendConnect => {
                self.state = State::AwaitReplyHead;
                Next::Write(Zeroizing::new(self.request.clone()))
            }
            State::AwaitMethod | State::AwaitAuth => Next::Read(2),
            State::AwaitReplyHead => Next::Read(5),
            State::AwaitReplyTail(n) => Next::Read(n),
            State::Done => Next::Done,
            State::Failed => Next::Failed,
        }
    }

    /// The bytes of the last [`Next::Read`], exactly as many as it asked
    /// for. An error says what was wrong with them; the handshake is then
    /// over ([`Next::Failed`]).
    pub fn received(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let result = self.take(bytes);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let asked = match self.next_read() {
            Some(n) => n,
            None => return Err(Failure::Unasked),
        };
        if bytes.len() != asked {
            return Err(Failure::Unasked);
        }
        self.state = match self.state {
            State::AwaitMethod => match method_choice(bytes, self.credentials.is_some())? {
                USER_PASSWORD => State::SendAuth,
                _ => State::SendConnect,
            },
            State::AwaitAuth => {
                auth_reply(bytes)?;
                State::SendConnect
            }
            State::AwaitReplyHead => State::AwaitReplyTail(reply_head(bytes)?),
            // The bound address and port: what the proxy connected from,
            // of no use to SMTP.
            _ => State::Done,
        };
        Ok(())
    }

    fn next_read(&self) -> Option<usize> {
        match self.state {
            State::AwaitMethod | State::AwaitAuth => Some(2),
            State::AwaitReplyHead => Some(5),
            State::AwaitReplyTail(n) => Some(n),
            _ => None,
        }
    }
}

/// RFC 1929 allows 1 to 255 bytes for each.
pub(super) fn check_credential_lengths(user: &str, password: &Secret) -> Result<(), Failure> {
    if user.is_empty() || user.len() > 255 {
        return Err(Failure::UserLength(user.len()));
    }
    let len = password.expose().len();
    if len == 0 || len > 255 {
        return Err(Failure::PasswordLength(len));
    }
    Ok(())
}

/// The methods offered: no authentication, and username/password when
/// there are credentials.
pub fn greeting(with_password: bool) -> Vec<u8> {
    if with_password {
        vec![VERSION, 2, NO_AUTH, USER_PASSWORD]
    } else {
        vec![VERSION, 1, NO_AUTH]
    }
}

/// The proxy's choice of method, checked to be one that was offered.
pub fn method_choice(reply: &[u8], with_password: bool) -> Result<u8, Failure> {
    let [version, method] = two(reply)?;
    if version != VERSION {
        return Err(Failure::Version(version));
    }
    match method {
        NO_AUTH => Ok(method),
        USER_PASSWORD if with_password => Ok(method),
        NO_ACCEPTABLE => Err(Failure::NoAcceptableMethod {
            offered_password: with_password,
        }),
        other => Err(Failure::UnofferedMethod(other)),
    }
}

/// The RFC 1929 request: version 1, the user and the password, each with
/// its length. Wiped when dropped.
pub fn auth_request(user: &str, password: &Secret) -> Zeroizing<Vec<u8>> {
    let password = password.expose().as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(3 + user.len() + password.len()));
    // The lengths were checked when the handshake was made.
    out.push(AUTH_VERSION);
    out.push(u8::try_from(user.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(user.as_bytes());
    out.push(u8::try_from(password.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(password);
    out
}

/// The RFC 1929 reply: version 1, status 0 for success.
pub fn auth_reply(reply: &[u8]) -> Result<(), Failure> {
    match two(reply)? {
        [AUTH_VERSION, 0] => Ok(()),
        [AUTH_VERSION, status] => Err(Failure::AuthRefused(status)),
        [version, _] => Err(Failure::AuthVersion(version)),
    }
}

/// The CONNECT request for `host`:`port`. A name must be ASCII (the
/// proxy resolves it as given) and at most 255 bytes.
pub fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, Failure> {
    let mut out = vec![VERSION, CONNECT, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            if host.starts_with('/') {
                return Err(Failure::UnixSocket(host.to_owned()));
            }
            if host.is_empty() || !host.is_ascii() || host.bytes().any(|b| b.is_ascii_control()) {
                return Err(Failure::BadName(host.to_owned()));
            }
            let len = u8::try_from(host.len()).map_err(|_| Failure::NameTooLong(host.len()))?;
            out.push(ATYP_DOMAIN);
            out.push(len);
            out.extend_from_slice(host.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// The first five bytes of the reply to CONNECT: version, reply code,
/// reserved, address type, and the address's first byte. Returns how many
/// bytes of the reply are still to come (the rest of the bound address,
/// and its port). A reply code other than 0 fails here: the rest of a
/// failure reply is not waited for.
pub fn reply_head(head: &[u8]) -> Result<usize, Failure> {
    let &[version, code, reserved, atyp, first] = head else {
        return Err(Failure::Unasked);
    };
    if version != VERSION {
        return Err(Failure::Version(version));
    }
    if code != 0 {
        return Err(Failure::Reply(code));
    }
    if reserved != 0 {
        return Err(Failure::Reserved(reserved));
    }
    // Each count is the address's bytes after the first, and the port.
    match atyp {
        ATYP_IPV4 => Ok(3 + 2),
        ATYP_IPV6 => Ok(15 + 2),
        ATYP_DOMAIN if first == 0 => Err(Failure::EmptyBoundName),
        ATYP_DOMAIN => Ok(usize::from(first) + 2),
        other => Err(Failure::AddressType(other)),
    }
}

fn two(reply: &[u8]) -> Result<[u8; 2], Failure> {
    reply.try_into().map_err(|_| Failure::Unasked)
}

/// What the reply codes of RFC 1928 §6 mean, in words (`None` for 0,
/// success).
pub fn reply_meaning(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        1 => "the proxy failed (general SOCKS server failure)",
        2 => "the proxy's rules do not allow this connection",
        3 => "the network is unreachable from the proxy",
        4 => "the destination is unreachable from the proxy (or its name does not resolve there)",
        5 => "connection refused by the destination",
        6 => "the destination did not answer the proxy in time (TTL expired)",
        7 => "the proxy does not support CONNECT",
        8 => "the proxy does not support this address type",
        _ => "the proxy failed with a reply code RFC 1928 does not define",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Runs `h` against the proxy's `replies` (each exactly one read);
    /// what was written, and the outcome.
    fn run(mut h: Handshake, replies: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), Failure>) {
        let mut writes = Vec::new();
        let mut replies = replies.iter();
        loop {
            match h.poll() {
                Next::Write(bytes) => writes.push(bytes.to_vec()),
                Next::Read(n) => {
                    let reply = replies.next().expect("the handshake read more");
                    assert_eq!(reply.len(), n, "asked for {n} bytes");
                    if let Err(e) = h.received(reply) {
                        assert_eq!(h.poll(), Next::Failed);
                        return (writes, Err(e));
                    }
                }
                Next::Done => {
                    assert!(replies.next().is_none(), "replies left over");
                    return (writes, Ok(()));
                }
                Next::Failed => panic!("failed without an error"),
            }
        }
    }

    const OK_V4: [&[u8]; 2] = [&[5, 0, 0, 1, 127], &[0, 0, 1, 0x30, 0x39]];

    #[test]
    fn a_name_goes_to_the_proxy_unresolved() {
        let h = Handshake::new("smtp.example.org", 587, None).unwrap();
        let (writes, result) = run(h, &[&[5, 0], OK_V4[0], OK_V4[1]]);
        result.unwrap();
        let mut connect = vec![5, 1, 0, 3, 16];
        connect.extend_from_slice(b"smtp.example.org");
        connect.extend_from_slice(&[0x02, 0x4B]);
        assert_eq!(writes, vec![vec![5, 1, 0], connect]);
    }

    #[test]
    fn address_literals_go_as_addresses() {
        assert_eq!(
            connect_request("192.0.2.7", 25).unwrap(),
            [5, 1, 0, 1, 192, 0, 2, 7, 0, 25]
        );
        let v6 = connect_request("2001:db8::1", 465).unwrap();
        assert_eq!(v6[..4], [5, 1, 0, 4]);
        assert_eq!(
            v6[4..20],
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(v6[20..], [0x01, 0xD1]);
    }

    #[test]
    fn names_the_proxy_cannot_take_are_refused_before_anything_is_sent() {
        let long = "a".repeat(256);
        assert!(matches!(
            Handshake::new(&long, 25, None),
            Err(Failure::NameTooLong(256))
        ));
        assert!(Handshake::new(&"a".repeat(255), 25, None).is_ok());
        assert!(matches!(
            Handshake::new("bücher.example", 25, None),
            Err(Failure::BadName(_))
        ));
        assert!(matches!(
            Handshake::new("a\r\nb", 25, None),
            Err(Failure::BadName(_))
        ));
        assert!(matches!(
            Handshake::new("", 25, None),
            Err(Failure::BadName(_))
        ));
        assert!(matches!(
            Handshake::new("/run/lmtp.sock", 25, None),
            Err(Failure::UnixSocket(_))
        ));
    }

    #[test]
    fn username_and_password_go_when_the_proxy_chooses_them() {
        let secret = Secret::new("s3cret");
        let h = Handshake::new("10.0.0.1", 25, Some(("bob", &secret))).unwrap();
        let (writes, result) = run(h, &[&[5, 2], &[1, 0], OK_V4[0], OK_V4[1]]);
        result.unwrap();
        assert_eq!(writes[0], [5, 2, 0, 2]);
        assert_eq!(writes[1], b"\x01\x03bob\x06s3cret");
        assert_eq!(writes[2], [5, 1, 0, 1, 10, 0, 0, 1, 0, 25]);
    }

    #[test]
    fn a_proxy_that_wants_no_password_gets_none() {
        let secret = Secret::new("s3cret");
        let h = Handshake::new("10.0.0.1", 25, Some(("bob", &secret))).unwrap();
        let (writes, result) = run(h, &[&[5, 0], OK_V4[0], OK_V4[1]]);
        result.unwrap();
        assert_eq!(writes.len(), 2);
        assert!(!writes.concat().windows(6).any(|w| w == b"s3cret"));
    }

    #[test]
    fn credential_lengths_are_checked() {
        let empty = Secret::new("");
        let long = Secret::new("p".repeat(256));
        let fine = Secret::new("p");
        assert!(matches!(
            Handshake::new("h", 1, Some(("bob", &empty))),
            Err(Failure::PasswordLength(0))
        ));
        assert!(matches!(
            Handshake::new("h", 1, Some(("bob", &long))),
            Err(Failure::PasswordLength(256))
        ));
        assert!(matches!(
            Handshake::new("h", 1, Some(("", &fine))),
            Err(Failure::UserLength(0))
        ));
        assert!(Handshake::new("h", 1, Some((&"u".repeat(255), &fine))).is_ok());
    }

    #[test]
    fn method_choices_are_checked() {
        let h = || Handshake::new("h", 1, None).unwrap();
        assert!(matches!(run(h(), &[&[4, 0]]).1, Err(Failure::Version(4))));
        assert!(matches!(
            run(h(), &[&[5, 0xFF]]).1,
            Err(Failure::NoAcceptableMethod {
                offered_password: false
            })
        ));
        // Username/password chosen though it was not offered.
        assert!(matches!(
            run(h(), &[&[5, 2]]).1,
            Err(Failure::UnofferedMethod(2))
        ));
        // GSSAPI.
        assert!(matches!(
            run(h(), &[&[5, 1]]).1,
            Err(Failure::UnofferedMethod(1))
        ));
    }

    #[test]
    fn auth_replies_are_checked() {
        let secret = Secret::new("pw");
        let h = || Handshake::new("h", 1, Some(("bob", &secret))).unwrap();
        assert!(matches!(
            run(h(), &[&[5, 2], &[1, 1]]).1,
            Err(Failure::AuthRefused(1))
        ));
        // A proxy that answers the subnegotiation with SOCKS's version.
        assert!(matches!(
            run(h(), &[&[5, 2], &[5, 0]]).1,
            Err(Failure::AuthVersion(5))
        ));
        assert!(matches!(
            run(h(), &[&[5, 0xFF]]).1,
            Err(Failure::NoAcceptableMethod {
                offered_password: true
            })
        ));
    }

    #[test]
    fn each_failure_code_is_an_error_with_words() {
        for code in 1..=255u8 {
            let h = Handshake::new("h", 1, None).unwrap();
            let (_, result) = run(h, &[&[5, 0], &[5, code, 0, 1, 0]]);
            match result {
                Err(Failure::Reply(c)) => assert_eq!(c, code),
                other => panic!("REP {code}: {other:?}"),
            }
            let text = Failure::Reply(code).to_string();
            assert!(text.ends_with(&format!("(REP {code})")), "{text}");
        }
        assert_eq!(
            Failure::Reply(5).to_string(),
            "connection refused by the destination (REP 5)"
        );
    }

    #[test]
    fn connect_replies_are_checked() {
        let h = || Handshake::new("h", 1, None).unwrap();
        assert!(matches!(
            run(h(), &[&[5, 0], &[4, 0, 0, 1, 0]]).1,
            Err(Failure::Version(4))
        ));
        assert!(matches!(
            run(h(), &[&[5, 0], &[5, 0, 7, 1, 0]]).1,
            Err(Failure::Reserved(7))
        ));
        assert!(matches!(
            run(h(), &[&[5, 0], &[5, 0, 0, 2, 0]]).1,
            Err(Failure::AddressType(2))
        ));
        assert!(matches!(
            run(h(), &[&[5, 0], &[5, 0, 0, 3, 0]]).1,
            Err(Failure::EmptyBoundName)
        ));
    }

    #[test]
    fn the_bound_address_is_read_to_its_end_and_no_further() {
        let h = || Handshake::new("h", 1, None).unwrap();
        // A name of 3 bytes: 3 more, and the port.
        run(h(), &[&[5, 0], &[5, 0, 0, 3, 3], b"abc\x00\x19"])
            .1
            .unwrap();
        // IPv6: 15 more bytes of the address, and the port.
        run(h(), &[&[5, 0], &[5, 0, 0, 4, 0], &[0; 17]]).1.unwrap();
    }

    #[test]
    fn bytes_nobody_asked_for_are_refused() {
        let mut h = Handshake::new("h", 1, None).unwrap();
        assert!(matches!(h.received(&[5, 0]), Err(Failure::Unasked)));
        let mut h = Handshake::new("h", 1, None).unwrap();
        let _ = h.poll();
        assert!(matches!(h.received(&[5, 0, 0]), Err(Failure::Unasked)));
        assert_eq!(h.poll(), Next::Failed);
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let secret = Secret::new("hunter2");
        let h = Handshake::new("h", 1, Some(("bob", &secret))).unwrap();
        let shown = format!("{h:?}");
        assert!(
            shown.contains("bob") && !shown.contains("hunter2"),
            "{shown}"
        );
        let mut h = h;
        let _ = h.poll();
        h.received(&[5, 2]).unwrap();
        let request = h.poll();
        let shown = format!("{request:?}");
        assert_eq!(shown, "Write(13 bytes)");
        assert!(matches!(request, Next::Write(ref b) if b.ends_with(b"hunter2")));
    }
}
