//! RFC 5322 dates: `date::parse` on the input as (lossy) UTF-8. A date that
//! parses must be written by `date::format` as text that parses back to the
//! same instant in the same zone, and that text must be written the same
//! way again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::date;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    match date::parse(&input) {
        Ok(when) => {
            let text = date::format(&when);
            let again = date::parse(&text)
                .unwrap_or_else(|e| panic!("{text:?} (from {input:?}) does not parse back: {e}"));
            assert_eq!(again, when, "{text:?} (from {input:?}) is another instant");
            assert_eq!(again.offset(), when.offset(), "{text:?} (from {input:?}) is in another zone");
            assert_eq!(date::format(&again), text);
        }
        Err(e) => {
            let _ = (e.to_string(), e.reason(), e.input());
            assert!(e.position() <= input.len(), "error position past the end of {input:?}");
        }
    }
});
