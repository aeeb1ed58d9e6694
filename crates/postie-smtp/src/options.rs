//! The options of a send: tcllib `::smtp::sendmessage`'s, with the same
//! meaning (see `docs/tcllib-differences.md` for where postie differs).

use std::time::Duration;

use crate::error::ServerAddr;

/// The port used when a server has none.
pub const DEFAULT_PORT: u16 = 25;

/// Time limits. Each stage (connecting, each reply) has its own; the
/// deadline, when set, bounds the whole send, every server included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection, for each address of a host. Default 60 s.
    pub connect: Duration,
    /// Waiting for each reply, and for each write to make progress.
    /// Default 60 s.
    pub command: Duration,
    /// Waiting for the reply to the final `.`, while the server may be
    /// scanning the message. Default 600 s (RFC 5321 §4.5.3.2.6).
    pub end_of_data: Duration,
    /// The whole send. Default: none.
    pub deadline: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(60),
            command: Duration::from_secs(60),
            end_of_data: Duration::from_secs(600),
            deadline: None,
        }
    }
}

/// How to send a message: servers, envelope, headers and limits.
///
/// ```
/// use postie_smtp::SendOptions;
/// let options = SendOptions::new()
///     .servers(["mx1.example.org", "mx2.example.org"])
///     .ports([2525])
///     .recipients("someone@example.org, Bob <bob@example.org>")
///     .header("Subject", "This is the subject.")
///     .at_least_one(true);
/// let servers = options.server_list();
/// assert_eq!(servers[0].to_string(), "mx1.example.org:2525");
/// assert_eq!(servers[1].to_string(), "mx2.example.org:25");
/// ```
#[derive(Clone, Debug)]
pub struct SendOptions {
    pub(crate) servers: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) client: Option<String>,
    pub(crate) originator: Option<String>,
    pub(crate) recipients: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) at_least_one: bool,
    pub(crate) timeouts: Timeouts,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            servers: vec!["localhost".to_owned()],
            ports: Vec::new(),
            client: None,
            originator: None,
            recipients: None,
            headers: Vec::new(),
            at_least_one: false,
            timeouts: Timeouts::default(),
        }
    }
}

impl SendOptions {
    /// The defaults: `localhost`, port 25, all-or-nothing recipients.
    pub fn new() -> Self {
        Self::default()
    }

    /// `-servers`: the servers to try, in order, replacing the default
    /// `localhost`. Empty names are skipped.
    pub fn servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `-ports`: paired one-to-one with the servers; a server without a
    /// port gets 25.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }

    /// `-client`: the name sent in EHLO/HELO. Default: `localhost` when the
    /// only server is `localhost`, else this machine's host name.
    pub fn client(mut self, name: impl Into<String>) -> Self {
        self.client = Some(name.into());
        self
    }

    /// `-originator`: the envelope sender. An empty string is the null
    /// sender `<>`, and then no From is added. Default: the From header
    /// (Resent-From in Resent mode), else `$USER@` the host name.
    pub fn originator(mut self, originator: impl Into<String>) -> Self {
        self.originator = Some(originator.into());
        self
    }

    /// `-recipients`: comma-separated RFC 5322 addresses, exactly the
    /// envelope recipients. Default: the To, Cc and Bcc given as header
    /// options, else the message's own.
    pub fn recipients(mut self, recipients: impl Into<String>) -> Self {
        self.recipients = Some(recipients.into());
        self
    }

    /// `-header`: a field added to the message and consulted first for the
    /// originator and recipients. For a field that may occur once (From,
    /// Sender, To, Cc, Bcc, Subject, Date, Message-ID, Reply-To,
    /// In-Reply-To, References) it replaces the message's own. A `Resent-`
    /// field switches to Resent mode.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `-atleastone`: send when at least one recipient is accepted. Off:
    /// all or nothing.
    pub fn at_least_one(mut self, yes: bool) -> Self {
        self.at_least_one = yes;
        self
    }

    /// All time limits at once.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The limit for connecting and for each reply but the last.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeouts.connect = limit;
        self.timeouts.command = limit;
        self
    }

    /// The limit for the reply to the end of data.
    pub fn end_of_data_timeout(mut self, limit: Duration) -> Self {
        self.timeouts.end_of_data = limit;
        self
    }

    /// A limit for the whole send.
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.timeouts.deadline = Some(limit);
        self
    }

    /// The servers and ports paired one-to-one, as they will be tried.
    pub fn server_list(&self) -> Vec<ServerAddr> {
        self.servers
            .iter()
            .enumerate()
            .filter_map(|(i, host)| {
                let host = host.trim();
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                (!host.is_empty()).then(|| ServerAddr {
                    host: host.to_owned(),
                    port: self.ports.get(i).copied().unwrap_or(DEFAULT_PORT),
                })
            })
            .collect()
    }

    /// The time limits.
    pub fn timeout_settings(&self) -> Timeouts {
        self.timeouts
    }
}
