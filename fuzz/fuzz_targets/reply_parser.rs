//! The incremental reply parser: bytes pushed in 1 to 3 arbitrary chunks,
//! replies drained after each push until `None` or an error.
//!
//! Input: one control byte, then the server's bytes. The control byte picks
//! the number of chunks (bits 0-1), the limits (bit 2: tiny ones, so that
//! the limit paths run on small inputs), and where the chunks split (the
//! next two bytes of the input, as fractions of its length).
//!
//! Besides "no panic": every reply has a code from 200 to 599 and at least
//! one line, `Display` works, and pushing in chunks gives the same replies
//! (and the same success or failure) as pushing everything at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_smtp::reply::{Limits, Reply, ReplyParser};

fn parser(small: bool) -> ReplyParser {
    if small {
        ReplyParser::with_limits(Limits {
            max_line: 16,
            max_reply: 48,
        })
    } else {
        ReplyParser::default()
    }
}

/// Drains every complete reply; `Err(())` on the first parse error.
fn drain(p: &mut ReplyParser, out: &mut Vec<Reply>) -> Result<(), ()> {
    loop {
        match p.next_reply() {
            Ok(Some(reply)) => {
                assert!(
                    (200..600).contains(&reply.code()),
                    "reply with code {}",
                    reply.code()
                );
                assert!(!reply.lines().is_empty(), "reply without lines");
                let shown = reply.to_string();
                assert!(shown.starts_with(&reply.code().to_string()));
                if let Some(e) = reply.enhanced() {
                    assert_eq!(u16::from(e.class), reply.code() / 100);
                }
                out.push(reply);
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                let _ = e.to_string();
                return Err(());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunks = 1 + usize::from(ctl & 3) % 3;
    let small = ctl & 4 != 0;
    let len = rest.len();
    let mut cuts: Vec<usize> = rest
        .iter()
        .take(chunks - 1)
        .map(|&b| usize::from(b) * len / 256)
        .collect();
    cuts.sort_unstable();
    cuts.push(len);

    // In chunks.
    let mut p = parser(small);
    let mut chunked = Vec::new();
    let mut start = 0;
    let mut chunked_ok = true;
    for &cut in &cuts {
        p.push(&rest[start..cut]);
        start = cut;
        if drain(&mut p, &mut chunked).is_err() {
            chunked_ok = false;
            break;
        }
    }

    // All at once.
    let mut whole_parser = parser(small);
    whole_parser.push(rest);
    let mut whole = Vec::new();
    let whole_ok = drain(&mut whole_parser, &mut whole).is_ok();

    assert_eq!(chunked, whole, "chunking changed the replies");
    assert_eq!(chunked_ok, whole_ok, "chunking changed success");
    if whole_ok {
        assert_eq!(p.has_buffered(), whole_parser.has_buffered());
    }
});
