//! Delivery status notifications (RFC 3461): which reports the sender asks
//! for (NOTIFY, per recipient), how much of the message a report returns
//! (RET), the envelope identifier they quote (ENVID), and the original
//! recipient address (ORCPT).
//!
//! The parameters go out only where the server offers DSN; elsewhere the
//! message is sent without them (a report is a request, not a condition of
//! delivery), the transcript says so, and [`crate::Sent::dsn`] is false.
//!
//! ```
//! use postie_smtp::dsn::{Notify, Ret};
//! use postie_smtp::SendOptions;
//!
//! let options = SendOptions::new()
//!     .dsn_notify(Notify::parse("success,failure")?)
//!     .dsn_ret(Ret::Headers)
//!     .envid("order-4711");
//! # Ok::<(), postie_smtp::dsn::DsnError>(())
//! ```

use std::fmt;

/// What RET asks a report to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// The whole message (`RET=FULL`).
    Full,
    /// Only its header (`RET=HDRS`).
    Headers,
}

impl Ret {
    /// `full` or `hdrs`, any case.
    pub fn parse(text: &str) -> Result<Self, DsnError> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "hdrs" => Ok(Self::Headers),
            _ => Err(DsnError::Ret(text.to_owned())),
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Headers => "HDRS",
        }
    }
}

/// When a report is wanted (NOTIFY): never, or on any of success, failure
/// and delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notify {
    never: bool,
    success: bool,
    failure: bool,
    delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`: no report whatever happens.
    pub fn never() -> Self {
        Self {
            never: true,
            ..Self::default()
        }
    }

    /// A report on each of the events that is true.
    pub fn on(success: bool, failure: bool, delay: bool) -> Result<Self, DsnError> {
        if !(success || failure || delay) {
            return Err(DsnError::Notify(String::new()));
        }
        Ok(Self {
            never: false,
            success,
            failure,
            delay,
        })
    }

    /// `never`, or a comma list of `success`, `failure`, `delay` (any
    /// case, spaces allowed); `never` cannot be combined (RFC 3461 §4.1).
    pub fn parse(text: &str) -> Result<Self, DsnError> {
        let bad = || DsnError::Notify(text.to_owned());
        let mut notify = Self::default();
        for word in text.split(',').map(str::trim) {
            match word.to_ascii_lowercase().as_str() {
                "never" => notify.never = true,
                "success" => notify.success = true,
                "failure" => notify.failure = true,
                "delay" => notify.delay = true,
                _ => return Err(bad()),
            }
        }
        let events = notify.success || notify.failure || notify.delay;
        if notify.never == events {
            return Err(bad());
        }
        Ok(notify)
    }
}

impl fmt::Display for Notify {
    /// The NOTIFY value: `NEVER` or e.g. `SUCCESS,FAILURE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.never {
            return f.write_str("NEVER");
        }
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect();
        f.write_str(&words.join(","))
    }
}

/// Stored as the word postie's flags take: `full` or `hdrs`.
#[cfg(feature = "serde")]
impl serde::Serialize for Ret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Full => "full",
            Self::Headers => "hdrs",
        })
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Ret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Stored as its NOTIFY value: `NEVER`, or e.g. `SUCCESS,DELAY`.
#[cfg(feature = "serde")]
impl serde::Serialize for Notify {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Notify {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A DSN value that cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsnError {
    /// NOTIFY is not `never` or a list of success, failure and delay.
    #[error("invalid DSN notify {0:?}: give never, or a comma list of success, failure, delay")]
    Notify(String),
    /// RET is not `full` or `hdrs`.
    #[error("invalid DSN ret {0:?}: give full or hdrs")]
    Ret(String),
    /// ENVID is empty, longer than 100 characters, or not printable ASCII.
    #[error("invalid envelope id {0:?}: 1 to 100 printable ASCII characters")]
    Envid(String),
}

/// Checks an ENVID: 1 to 100 printable ASCII characters (RFC 3461 §4.4;
/// the limit counts the text before encoding).
pub fn check_envid(envid: &str) -> Result<(), DsnError> {
    let ok =
        !envid.is_empty() && envid.len() <= 100 && envid.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DsnError::Envid(envid.escape_debug().to_string()))
    }
}

/// What the core adds to MAIL and RCPT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dsn {
    /// RET, on MAIL.
    pub ret: Option<Ret>,
    /// ENVID, on MAIL (checked by [`crate::SendOptions::envid`]).
    pub envid: Option<String>,
    /// NOTIFY for each recipient, in the order of the recipients.
    pub notify: Vec<Option<Notify>>,
    /// Add ORCPT with each recipient's address.
    pub orcpt: bool,
}

impl Dsn {
    /// The MAIL parameters, each with its leading space.
    pub(crate) fn mail_params(&self) -> String {
        let mut out = String::new();
        if let Some(ret) = self.ret {
            out.push_str(" RET=");
            out.push_str(ret.keyword());
        }
        if let Some(envid) = &self.envid {
            out.push_str(" ENVID=");
            out.push_str(&xtext(envid));
        }
        out
    }

    /// The RCPT parameters for recipient `index`, whose address as given
    /// is `original`; `utf8` when the transaction uses SMTPUTF8.
    pub(crate) fn rcpt_params(&self, index: usize, original: &str, utf8: bool) -> String {
        let mut out = String::new();
        if let Some(Some(notify)) = self.notify.get(index) {
            out.push_str(&format!(" NOTIFY={notify}"));
        }
        if self.orcpt {
            out.push_str(" ORCPT=");
            out.push_str(&orcpt(original, utf8));
        }
        out
    }
}

/// RFC 3461 §4: `!` to `~` but `+` and `=` as they are, anything else as
/// `+HH`.
pub fn xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// The ORCPT value for `address`: `rfc822;` and its xtext when ASCII;
/// else `utf-8;` (RFC 6533 §3) with the UTF-8 kept where the transaction
/// uses SMTPUTF8 (utf-8-addr-unitext) or as `\x{HEX}` otherwise
/// (utf-8-addr-xtext). Either way `+`, `=`, `\` and controls are escaped.
pub fn orcpt(address: &str, utf8: bool) -> String {
    if address.is_ascii() {
        return format!("rfc822;{}", xtext(address));
    }
    let mut out = String::from("utf-8;");
    for c in address.chars() {
        let plain_ascii = ('!'..='~').contains(&c) && !matches!(c, '+' | '=' | '\\');
        if plain_ascii || (utf8 && !c.is_ascii()) {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_lists() {
        assert_eq!(
            Notify::parse("Success, failure").unwrap().to_string(),
            "SUCCESS,FAILURE"
        );
        assert_eq!(Notify::parse("never").unwrap().to_string(), "NEVER");
        assert_eq!(Notify::parse("delay").unwrap().to_string(), "DELAY");
        for bad in ["", "never,success", "sometimes", "success,,failure"] {
            assert!(Notify::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Notify::on(false, false, false).is_err());
    }

    #[test]
    fn xtext_escapes_plus_equals_and_what_is_not_printable() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("order-4711"), "order-4711");
        assert_eq!(xtext("é"), "+C3+A9");
    }

    #[test]
    fn orcpt_forms() {
        assert_eq!(
            orcpt("a+tag@example.org", false),
            "rfc822;a+2Btag@example.org"
        );
        assert_eq!(
            orcpt("jürgen@example.org", true),
            "utf-8;jürgen@example.org"
        );
        assert_eq!(
            orcpt("jürgen@example.org", false),
            "utf-8;j\\x{FC}rgen@example.org"
        );
        assert_eq!(orcpt("ü+x@é.example", true), "utf-8;ü\\x{2B}x@é.example");
    }

    #[test]
    fn envid_limits() {
        assert!(check_envid("order-4711").is_ok());
        assert!(check_envid("").is_err());
        assert!(check_envid(&"x".repeat(101)).is_err());
        assert!(check_envid("a\r\nb").is_err());
        assert!(check_envid("é").is_err());
    }
}
