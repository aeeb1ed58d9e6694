//! Exit codes: sendmail's sysexits, as the command contract's table says
//! (postie-smtp holds them, and the code for each failed send).

pub(crate) use postie_smtp::sysexits::*;

/// `postie dkim verify` of a message without any DKIM-Signature: neither a
/// pass nor a failed signature (as grep's 1: nothing found).
pub(crate) const UNSIGNED: u8 = 1;
