//! Exit codes: sendmail's sysexits, as the command contract's table says.

use postie_smtp::{Cause, Error};

pub(crate) const OK: u8 = 0;
/// `postie dkim verify` of a message without any DKIM-Signature: neither a
/// pass nor a failed signature (as grep's 1: nothing found).
pub(crate) const UNSIGNED: u8 = 1;
pub(crate) const USAGE: u8 = 64;
pub(crate) const DATAERR: u8 = 65;
pub(crate) const NOINPUT: u8 = 66;
pub(crate) const NOUSER: u8 = 67;
pub(crate) const NOHOST: u8 = 68;
pub(crate) const UNAVAILABLE: u8 = 69;
pub(crate) const SOFTWARE: u8 = 70;
pub(crate) const OS_ERR: u8 = 71;
pub(crate) const CANTCREAT: u8 = 73;
pub(crate) const IO_ERR: u8 = 74;
pub(crate) const TEMPFAIL: u8 = 75;
pub(crate) const NOPERM: u8 = 77;
pub(crate) const CONFIG: u8 = 78;

/// Whether the SOCKS5 proxy refused this client (its user and password,
/// or the want of them): like a refused AUTH, trying again will not help.
fn proxy_refused_us(attempt: &postie_smtp::ServerError) -> bool {
    use postie_smtp::connector::socks5::{Failure, ProxyError};
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

/// The exit code for a send that failed.
pub(crate) fn for_error(error: &Error) -> u8 {
    match error {
        Error::Invalid(
            postie_smtp::InvalidInput::Tls(_)
            | postie_smtp::InvalidInput::NoServers
            | postie_smtp::InvalidInput::Proxy(_),
        ) => USAGE,
        // A DKIM key file unreadable, open to others or no key: as a
        // password file would be.
        Error::Invalid(postie_smtp::InvalidInput::Dkim(_)) => CONFIG,
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
                        .downcast_ref::<postie_smtp::transform::SignedMessage>()
                        .is_some()
                }) =>
            {
                UNAVAILABLE
            }
            Cause::TooLarge { .. } | Cause::NeedsSmtpUtf8(_) | Cause::Transform(_) => DATAERR,
            _ if failure.stage() == postie_smtp::Stage::Auth => NOPERM,
            _ if failure.is_temporary() => TEMPFAIL,
            _ => UNAVAILABLE,
        },
        _ => SOFTWARE,
    }
}
