//! A server that says nothing where its greeting should be. The usual
//! cause is a port that speaks implicit TLS (465, or a provider's own)
//! reached with `--tls starttls`, `required` or `none`: it waits in silence
//! for a ClientHello, and the client would wait its whole greeting timeout
//! and then retry for days. So after a few seconds of silence the core asks
//! the driver to offer TLS on a second connection; a TLS answer there ends
//! the attempt at once, permanently, with the fix in the error.
//!
//! Never on port 25: MX servers delay their greeting on purpose (Postfix's
//! postscreen, sendmail's greet_pause), some take a client that talks first
//! for a spammer and remember its address, and no MX speaks implicit TLS.

use std::time::{Duration, Instant};

use crate::server::ServerAddr;
use crate::tls::TlsMode;

/// How long the greeting may be silent before TLS is offered on the side.
pub(crate) const AFTER: Duration = Duration::from_secs(3);

/// How long the side connection gets to answer the ClientHello: a TLS
/// server answers at once.
pub(crate) const LIMIT: Duration = Duration::from_secs(3);

/// Where the side check stands for the current connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sniff {
    /// Not for this connection.
    Off,
    /// Asked for once the greeting has been silent until then.
    Armed(Instant),
    /// The driver is checking.
    Asked,
    /// Checked (the server did not answer TLS), or the greeting came.
    Done,
}

impl Sniff {
    /// For a connection just opened to `server` at `now`, expecting the
    /// greeting in clear.
    pub(crate) fn on_connect(server: &ServerAddr, tls: TlsMode, now: Instant) -> Self {
        let worth_it = tls != TlsMode::Implicit && !server.is_unix() && server.port != 25;
        if worth_it {
            Self::Armed(now + AFTER)
        } else {
            Self::Off
        }
    }

    /// When the greeting's read must stop to ask for the check (before
    /// `stage_deadline`), if it must.
    pub(crate) fn due(self, stage_deadline: Instant) -> Option<Instant> {
        match self {
            Self::Armed(at) if at < stage_deadline => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16) -> ServerAddr {
        ServerAddr {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn armed_only_where_implicit_tls_could_be_the_cause() {
        let now = Instant::now();
        let armed = Sniff::Armed(now + AFTER);
        assert_eq!(
            Sniff::on_connect(&server("mx", 587), TlsMode::StartTls, now),
            armed
        );
        assert_eq!(
            Sniff::on_connect(&server("mx", 465), TlsMode::Required, now),
            armed
        );
        assert_eq!(
            Sniff::on_connect(&server("mx", 2525), TlsMode::None, now),
            armed
        );
        assert_eq!(
            Sniff::on_connect(&server("mx", 25), TlsMode::StartTls, now),
            Sniff::Off
        );
        assert_eq!(
            Sniff::on_connect(&server("mx", 465), TlsMode::Implicit, now),
            Sniff::Off
        );
        assert_eq!(
            Sniff::on_connect(&server("/run/lmtp", 0), TlsMode::StartTls, now),
            Sniff::Off
        );
    }

    #[test]
    fn due_only_before_the_greeting_would_time_out() {
        let now = Instant::now();
        let armed = Sniff::Armed(now + AFTER);
        assert_eq!(armed.due(now + AFTER * 10), Some(now + AFTER));
        assert_eq!(armed.due(now + AFTER), None);
        assert_eq!(Sniff::Done.due(now + AFTER * 10), None);
        assert_eq!(Sniff::Off.due(now + AFTER * 10), None);
    }
}
