//! EHLO replies into `Capabilities`.
//!
//! The input is parsed as server replies; each reply goes through
//! `Capabilities::from_ehlo`. Replies are also built directly from the
//! input's lines (so that text the reply parser would refuse still reaches
//! `from_ehlo`).
//!
//! Besides "no panic": the mechanisms are upper-case, non-empty, free of
//! white space and unique; every keyword is found by `has` in any case;
//! `size` is `Some` exactly when `has("SIZE")`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_smtp::reply::ReplyParser;
use postie_smtp::{Capabilities, Reply};

fn check(reply: &Reply) {
    let caps = Capabilities::from_ehlo(reply);
    let mechs = caps.auth_mechanisms();
    for (i, m) in mechs.iter().enumerate() {
        assert!(!m.is_empty(), "empty mechanism");
        assert_eq!(*m, m.to_ascii_uppercase(), "mechanism not upper-case");
        assert!(
            !m.chars().any(|c| c.is_ascii_whitespace()),
            "white space in mechanism {m:?}"
        );
        assert!(!mechs[..i].contains(m), "duplicate mechanism {m:?}");
    }
    for keyword in caps.keywords() {
        assert!(caps.has(keyword));
        assert!(caps.has(&keyword.to_ascii_lowercase()));
        let _ = caps.params(keyword);
    }
    assert_eq!(caps.size().is_some(), caps.has("SIZE"));
    let _ = caps.has("STARTTLS");
    let _ = caps.has("AUTH");
    let _ = caps.has("");
    let _ = caps.params("AUTH");
    // The keyword of every line after the first is there.
    for line in reply.lines().iter().skip(1) {
        if let Some(first) = line.split_ascii_whitespace().next() {
            let keyword = first.split_once('=').map_or(first, |(k, _)| {
                if k.eq_ignore_ascii_case("AUTH") {
                    k
                } else {
                    first
                }
            });
            assert!(caps.has(keyword), "keyword {keyword:?} lost");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::default();
    parser.push(data);
    while let Ok(Some(reply)) = parser.next_reply() {
        check(&reply);
    }

    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            l.get(4..).unwrap_or(l).to_owned()
        })
        .collect();
    check(&Reply::new(250, None, lines));
});
