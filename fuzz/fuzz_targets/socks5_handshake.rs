//! The SOCKS5 handshake (RFC 1928, RFC 1929) against a proxy that answers
//! with arbitrary bytes.
//!
//! Input: one control byte, then the proxy's bytes. Bit 0 of the control
//! byte gives the handshake a user and password; bits 1-2 pick the target
//! (a name, an IPv4 address, an IPv6 address). Each read the handshake asks
//! for takes that many of the proxy's bytes; running out is the proxy
//! closing the connection.
//!
//! Besides "no panic": reads ask for 1 to 257 bytes, a write is never empty,
//! there are at most three writes (greeting, password, CONNECT), the
//! password goes only after the proxy chose username/password, a refused
//! reply leaves the handshake failed for good, and success consumes
//! exactly the bytes of the replies and no more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_smtp::connector::socks5::{Handshake, Next};
use postie_smtp::Secret;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut proxy)) = data.split_first() else {
        return;
    };
    let password = Secret::new("fuzz-password");
    let credentials = (ctl & 1 != 0).then_some(("fuzz-user", &password));
    let target = match (ctl >> 1) & 3 {
        0 => "mx.example.org",
        1 => "192.0.2.1",
        _ => "2001:db8::25",
    };
    let mut h = Handshake::new(target, 25, credentials).expect("a valid target");
    let mut writes = 0;
    let mut chose_password = false;
    loop {
        match h.poll() {
            Next::Write(bytes) => {
                assert!(!bytes.is_empty());
                writes += 1;
                assert!(writes <= 3, "more than three writes");
                if bytes.windows(13).any(|w| w == b"fuzz-password") {
                    assert!(chose_password, "the password went unasked");
                }
            }
            Next::Read(n) => {
                assert!((1..=257).contains(&n), "asked for {n} bytes");
                if proxy.len() < n {
                    return;
                }
                let (reply, rest) = proxy.split_at(n);
                // The method choice is the first read of two bytes.
                if writes == 1 && reply == [5, 2] {
                    chose_password = true;
                }
                proxy = rest;
                if let Err(e) = h.received(reply) {
                    let _ = e.to_string();
                    assert!(matches!(h.poll(), Next::Failed));
                    assert!(matches!(h.poll(), Next::Failed));
                    return;
                }
            }
            Next::Done => {
                assert!(matches!(h.poll(), Next::Done));
                return;
            }
            Next::Failed => panic!("failed without an error"),
            _ => return,
        }
    }
});
