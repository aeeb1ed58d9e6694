//! The security model: what postie defends against, its defaults and why,
//! the test behind each claim, and what is left to the user. The text is
//! the repository's `SECURITY.md`, kept in one place.
#![doc = include_str!("../../../SECURITY.md")]
