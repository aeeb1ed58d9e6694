//! Exit codes in sendmail's convention (`sysexits.h`), and the one a
//! failed send maps to: what a sendmail-compatible program exits with,
//! and how a spool tells a failure worth retrying (75, 68, a setup to
//! fix) from one that is final (5xx, refused recipients, a message no
//! server will take).

use crate::{Cause, Error};

/// Success.
pub const OK: u8 = 0;
/// The command was used wrongly (a flag, or settings that cannot work).
pub const USAGE: u8 = 64;
/// The input data was wrong (a message or address that cannot be sent).
pub const DATAERR: u8 = 65;
/// An input file did not exist or was not readable.
pub const NOINPUT: u8 = 66;
/// The server refused a recipient for good.
pub const NOUSER: u8 = 67;
/// A host name did not resolve.
pub const NOHOST: u8 = 68;
/// The service is unavailable: a server refused for good.
pub const UNAVAILABLE: u8 = 69;
/// An internal error.
pub const SOFTWARE: u8 = 70;
/// An error of the operating system (a file, a fork).
pub const OS_ERR: u8 = 71;
/// A file could not be created.
pub const CANTCREAT: u8 = 73;
/// An input or output error.
pub const IO_ERR: u8 = 74;
/// A temporary failure: trying again later may work.
pub const TEMPFAIL: u8 = 75;
/// Permission denied: authentication refused.
pub const NOPERM: u8 = 77;
/// A setting is wrong (an accounts file, a key file, a password source).
pub const CONFIG: u8 = 78;

/// Whether the SOCKS5 proxy refused this client (its user and password,
/// or the want of them): like a refused AUTH, trying again will not help.
fn proxy_refused_us(attempt: &crate::ServerError) -> bool {
    use crate::connector::socks5::{Failure, ProxyError};
    let Cause::Connect(e) = attempt.cause() else {
        return false;
    };
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ProxyError>())
        .is_some_and(|p| {
            matches!(
                p.failure(),
                Failure::AuthRefused(_) | Failure::NoAcceptableMethod { .. }
            )
        })
}

/// The exit code for a send that failed with `error`.
pub fn for_error(error: &Error) -> u8 {
    match error {
        Error::Invalid(
            crate::InvalidInput::Tls(_)
            | crate::InvalidInput::NoServers
            | crate::InvalidInput::Proxy(_),
        ) => USAGE,
        // A DKIM key file unreadable, open to others or no key: as a
        // password file would be.
        Error::Invalid(crate::InvalidInput::Dkim(_)) => CONFIG,
        Error::Invalid(_) => DATAERR,
        Error::Refused { refused, .. } => {
            if refused.iter().any(|r| r.reply().is_permanent()) {
                NOUSER
            } else {
                TEMPFAIL
            }
        }
        Error::NoServer { attempts }
            if !attempts.is_empty() && attempts.iter().all(proxy_refused_us) =>
        {
            NOPERM
        }
        Error::NoServer { .. } if error.is_unresolved() => NOHOST,
        Error::NoServer { .. } if error.is_temporary() => TEMPFAIL,
        Error::NoServer { .. } => UNAVAILABLE,
        Error::Transaction(failure) => match failure.cause() {
            // A signed message the server would need re-encoded: this
            // server will never take it as it is.
            Cause::Transform(e)
                if std::error::Error::source(e).is_some_and(|inner| {
                    inner
                        .downcast_ref::<crate::transform::SignedMessage>()
                        .is_some()
                }) =>
            {
                UNAVAILABLE
            }
            Cause::TooLarge { .. } | Cause::NeedsSmtpUtf8(_) | Cause::Transform(_) => DATAERR,
            _ if failure.stage() == crate::Stage::Auth => NOPERM,
            _ if failure.is_temporary() => TEMPFAIL,
            _ => UNAVAILABLE,
        },
    }
}
