//! The DNS lookups of `postie dkim verify`: a key's TXT record asked of a
//! recursive resolver (the system's, from /etc/resolv.conf, or
//! `--dns-server`), over UDP with EDNS0, and again over TCP when the answer
//! was truncated (a 4096-bit RSA record does not fit in 512 bytes).
//!
//! The packets are built and read by `simple-dns`; what is here is the
//! exchange: which servers, how long to wait, which answer to believe (the
//! same id, from the server asked, to the question asked) and what an
//! answer means for DKIM (a name or a record that does not exist is no key,
//! RFC 6376 §6.1.2's PERMFAIL; a server that fails or does not answer is a
//! TEMPFAIL).

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

/// The resolvers' file.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The largest UDP answer announced (EDNS0): the size DNS flag day 2020
/// settled on, which no path fragments.
const UDP_SIZE: u16 = 1232;

/// How many of resolv.conf's servers are asked, as the C library does.
const MAX_SERVERS: usize = 3;

/// Where and how to ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolver {
    servers: Vec<SocketAddr>,
    /// How long to wait for one answer.
    timeout: Duration,
    /// How many rounds over the servers.
    attempts: u32,
}

impl Resolver {
    /// The system's resolvers: resolv.conf's `nameserver` lines (at most
    /// three) and its `options timeout:N attempts:N`; without a server, the
    /// local one, as the C library does.
    pub(crate) fn system() -> Self {
        let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
        Self::from_resolv_conf(&text)
    }

    fn from_resolv_conf(text: &str) -> Self {
        let mut resolver = Self {
            servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A scoped IPv6 address (fe80::1%eth0) is not one std reads.
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        if resolver.servers.len() < MAX_SERVERS {
                            resolver.servers.push(SocketAddr::new(ip, 53));
                        }
                    }
                }
                Some("options") => {
                    for option in words {
                        if let Some(n) = option.strip_prefix("timeout:") {
                            if let Ok(n) = n.parse::<u64>() {
                                resolver.timeout = Duration::from_secs(n.clamp(1, 30));
                            }
                        } else if let Some(n) = option.strip_prefix("attempts:") {
                            if let Ok(n) = n.parse::<u32>() {
                                resolver.attempts = n.clamp(1, 5);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if resolver.servers.is_empty() {
            resolver
                .servers
                .push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        resolver
    }

    /// One server (`--dns-server`), asked twice, 5 s each time.
    pub(crate) fn with_server(server: SocketAddr) -> Self {
        Self {
            servers: vec![server],
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }

    /// The TXT record at `name` (its strings joined): `Ok(None)` when the
    /// name or the record does not exist, `Err` when no server answered
    /// (or each failed), saying why.
    pub(crate) fn txt(&self, name: &str) -> Result<Option<String>, String> {
        let query = Query::new(name)?;
        let mut last = String::new();
        for _ in 0..self.attempts {
            for &server in &self.servers {
                match self.ask(&query, server) {
                    Ok(Answer::Record(text)) => return Ok(Some(text)),
                    Ok(Answer::None) => return Ok(None),
                    Ok(Answer::Failed(rcode)) => {
                        last = format!("the DNS server {server} answered {rcode:?}");
                    }
                    Err(e) => last = format!("the DNS server {server}: {e}"),
                }
            }
        }
        Err(last)
    }

    fn ask(&self, query: &Query, server: SocketAddr) -> Result<Answer, String> {
        let reply = udp_exchange(query, server, self.timeout)?;
        let truncated = Packet::parse(&reply)
            .map(|packet| packet.has_flags(PacketFlag::TRUNCATION))
            .unwrap_or(false);
        if truncated {
            let reply = tcp_exchange(&query.bytes, server, self.timeout)?;
            return query.read(&reply);
        }
        query.read(&reply)
    }
}

/// What a server's answer means for the key.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The record's text.
    Record(String),
    /// No such name, or no TXT record there.
    None,
    /// The server failed (SERVFAIL, REFUSED, ...): ask another.
    Failed(RCODE),
}

/// A TXT question for one name, as sent.
struct Query {
    name: String,
    id: u16,
    bytes: Vec<u8>,
}

impl Query {
    fn new(name: &str) -> Result<Self, String> {
        let mut id = [0u8; 2];
        // An unpredictable id: an answer forged off the path must guess it.
        getrandom::fill(&mut id).map_err(|e| format!("no random source: {e}"))?;
        let id = u16::from_be_bytes(id);
        let mut packet = Packet::new_query(id);
        packet.set_flags(PacketFlag::RECURSION_DESIRED);
        let qname = Name::new(name).map_err(|e| format!("{name} is not a DNS name: {e}"))?;
        packet.questions.push(Question::new(
            qname,
            QTYPE::TYPE(TYPE::TXT),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        *packet.opt_mut() = Some(simple_dns::rdata::OPT {
            opt_codes: Vec::new(),
            udp_packet_size: UDP_SIZE,
            version: 0,
        });
        let bytes = packet
            .build_bytes_vec()
            .map_err(|e| format!("the query for {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            id,
            bytes,
        })
    }

    /// The answer in `reply`, which must be to this question.
    fn read(&self, reply: &[u8]) -> Result<Answer, String> {
        let packet = Packet::parse(reply).map_err(|e| format!("an unreadable answer: {e}"))?;
        if !self.answers(&packet) {
            return Err("an answer to another question".to_owned());
        }
        // "No such name" or "no record" is final only from a server that
        // looked: one offering recursion, or the zone's authority. An empty
        // answer from any other (a referral) says nothing of the key.
        let looked = packet.has_flags(PacketFlag::RECURSION_AVAILABLE)
            || packet.has_flags(PacketFlag::AUTHORITATIVE_ANSWER);
        match packet.rcode() {
            RCODE::NoError => {}
            RCODE::NameError if looked => return Ok(Answer::None),
            other => return Ok(Answer::Failed(other)),
        }
        // The resolver follows CNAMEs and gives the TXT records at the end
        // of the chain: take the first (RFC 6376 §3.6.2.2: a selector has
        // one).
        let text = packet
            .answers
            .iter()
            .find_map(|record| match &record.rdata {
                // Bytes that are not UTF-8 are kept (replaced) for the key
                // record's reader to refuse: a malformed key, not a lookup that
                // failed.
                RData::TXT(txt) => Some(
                    String::try_from(txt.clone())
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                ),
                _ => None,
            });
        match text {
            Some(text) => Ok(Answer::Record(text)),
            None if looked => Ok(Answer::None),
            None => Ok(Answer::Failed(RCODE::NoError)),
        }
    }

    /// Whether `packet` is an answer to this query: its id, and its one
    /// question this name (in any case) and type.
    fn answers(&self, packet: &Packet<'_>) -> bool {
        let wanted = self.name.trim_end_matches('.');
        packet.id() == self.id
            && packet.has_flags(PacketFlag::RESPONSE)
            && match packet.questions.as_slice() {
                [question] => {
                    question.qtype == QTYPE::TYPE(TYPE::TXT)
                        && question
                            .qname
                            .to_string()
                            .trim_end_matches('.')
                            .eq_ignore_ascii_case(wanted)
                }
                _ => false,
            }
    }
}

/// Sends `query` to `server` and waits for a datagram from it that answers
/// it (its id, its question); others are dropped (late answers, forgeries)
/// and the wait goes on until the limit.
fn udp_exchange(query: &Query, server: SocketAddr, timeout: Duration) -> Result<Vec<u8>, String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    // Connected: the kernel drops datagrams from any other address.
    socket.connect(server).map_err(|e| e.to_string())?;
    socket.send(&query.bytes).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; usize::from(UDP_SIZE).max(4096)];
    loop {
        let left = time_left(deadline, timeout)?;
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                let answers = Packet::parse(&buf[..n]).is_ok_and(|p| query.answers(&p));
                if answers {
                    return Ok(buf[..n].to_vec());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer in {} s", timeout.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What is left of `limit` until `deadline`, or the error that says it
/// ran out.
fn time_left(deadline: Instant, limit: Duration) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("no answer in {} s", limit.as_secs()))
}

/// The same question over TCP (RFC 7766): each message after its length
/// in two bytes, the whole exchange within `timeout` (a server trickling
/// its answer does not get a fresh limit for each read).
fn tcp_exchange(query: &[u8], server: SocketAddr, timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let mut stream =
        TcpStream::connect_timeout(&server, timeout).map_err(|e| format!("over TCP: {e}"))?;
    stream
        .set_write_timeout(Some(time_left(deadline, timeout)?))
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "the query is too long".to_owned())?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(query);
    stream
        .write_all(&out)
        .map_err(|e| format!("over TCP: {e}"))?;
    let mut len = [0u8; 2];
    read_within(&mut stream, &mut len, deadline, timeout)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_within(&mut stream, &mut reply, deadline, timeout)?;
    Ok(reply)
}

/// Fills `buf` from `stream` before `deadline`.
fn read_within(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    limit: Duration,
) -> Result<(), String> {
    let mut filled = 0;
    while filled < buf.len() {
        stream
            .set_read_timeout(Some(time_left(deadline, limit)?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err("over TCP: the server closed the connection".to_owned()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer in {} s (over TCP)", limit.as_secs()));
            }
            Err(e) => return Err(format!("over TCP: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_gives_the_servers_and_the_options() {
        let resolver = Resolver::from_resolv_conf(
            "# comment\nsearch example.org\nnameserver 192.0.2.1\nnameserver 2001:db8::1\n\
             nameserver fe80::1%eth0\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n\
             options ndots:2 timeout:1 attempts:3\n",
        );
        assert_eq!(
            resolver.servers,
            vec![
                "192.0.2.1:53".parse().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                "192.0.2.2:53".parse().unwrap(),
            ]
        );
        assert_eq!(resolver.timeout, Duration::from_secs(1));
        assert_eq!(resolver.attempts, 3);
        // Nothing: the local server, the C library's default.
        assert_eq!(
            Resolver::from_resolv_conf("").servers,
            vec!["127.0.0.1:53".parse().unwrap()]
        );
    }

    fn reply_to(query: &Query, build: impl FnOnce(&mut Packet<'static>)) -> Vec<u8> {
        let mut packet = Packet::new_reply(query.id);
        packet.set_flags(PacketFlag::RECURSION_AVAILABLE);
        packet.questions.push(Question::new(
            Name::new_unchecked("Sel._DomainKey.Example.ORG"),
            QTYPE::TYPE(TYPE::TXT),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        build(&mut packet);
        packet.build_bytes_vec().unwrap()
    }

    #[test]
    fn answers_are_read_for_what_they_mean() {
        let query = Query::new("sel._domainkey.example.org").unwrap();
        let record = |packet: &mut Packet<'static>| {
            let mut txt = simple_dns::rdata::TXT::new();
            txt.add_string("v=DKIM1; k=ed25519; ").unwrap();
            txt.add_string("p=abc").unwrap();
            packet.answers.push(simple_dns::ResourceRecord::new(
                Name::new_unchecked("sel._domainkey.example.org"),
                CLASS::IN,
                300,
                RData::TXT(txt),
            ));
        };
        assert_eq!(
            query.read(&reply_to(&query, record)).unwrap(),
            Answer::Record("v=DKIM1; k=ed25519; p=abc".to_owned())
        );
        // No record at the name, and no name.
        assert_eq!(query.read(&reply_to(&query, |_| {})).unwrap(), Answer::None);
        let nxdomain = reply_to(&query, |p| *p.rcode_mut() = RCODE::NameError);
        assert_eq!(query.read(&nxdomain).unwrap(), Answer::None);
        // The same from a server that neither recursed nor holds the zone
        // (a referral): nothing is known of the key.
        let referral = reply_to(&query, |p| p.remove_flags(PacketFlag::RECURSION_AVAILABLE));
        assert_eq!(
            query.read(&referral).unwrap(),
            Answer::Failed(RCODE::NoError)
        );
        let servfail = reply_to(&query, |p| *p.rcode_mut() = RCODE::ServerFailure);
        assert_eq!(
            query.read(&servfail).unwrap(),
            Answer::Failed(RCODE::ServerFailure)
        );
        // Another id, or another question, is not an answer.
        let other = Query::new("sel._domainkey.example.org").unwrap();
        let mut wrong_id = reply_to(&query, record);
        let bumped = query.id.wrapping_add(1).to_be_bytes();
        wrong_id[..2].copy_from_slice(&bumped);
        assert!(query.read(&wrong_id).is_err());
        let mut packet = Packet::new_reply(other.id);
        packet.questions.push(Question::new(
            Name::new_unchecked("evil._domainkey.example.org"),
            QTYPE::TYPE(TYPE::TXT),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        assert!(other.read(&packet.build_bytes_vec().unwrap()).is_err());
    }
}
