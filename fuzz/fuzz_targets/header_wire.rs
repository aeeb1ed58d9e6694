//! What postie parses is what a server is given. A message read by either
//! reader (the strict `Message::parse`, the tolerant `reader::parse`) is
//! written and put through the DATA path's line-ending repair (what the
//! server reads, before dot-stuffing). The header section on the wire,
//! split as a server splits it (at CRLF; a line starting with white space
//! continues the field; the first empty line ends it), must hold exactly
//! the fields that were parsed, with the same values (for the strict reader
//! in the same order; the writer may move a multipart's Content-Type), and no
//! CR, LF or NUL that is not part of a CRLF. For the strict reader the
//! header must also end where the writer ended it (no field pushed into the
//! body), and parsing the wire form again gives the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::{reader, Body, Message};
use postie_smtp::data::DataEncoder;

/// The wire form of `bytes` before dot-stuffing.
fn wire(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DataEncoder::line_endings_only();
    let mut out = Vec::with_capacity(bytes.len() + 16);
    encoder.encode(bytes, &mut out);
    encoder.finish_lines(&mut out);
    out
}

/// The fields a server reads, as (lowercase name, unfolded trimmed value),
/// and where its header section ends (just after the empty line).
fn server_fields(wire: &[u8]) -> (Vec<(String, String)>, usize) {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    let end = loop {
        let rest = &wire[pos..];
        let Some(crlf) = rest.windows(2).position(|w| w == b"\r\n") else {
            panic!("the header section on the wire does not end in CRLF lines");
        };
        let line = &rest[..crlf];
        assert!(
            !line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
            "a CR, LF or NUL inside a header line on the wire: {:?}",
            String::from_utf8_lossy(line)
        );
        pos += crlf + 2;
        if line.is_empty() {
            break pos;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            let (_, value) = fields
                .last_mut()
                .unwrap_or_else(|| panic!("a continuation line before any field on the wire"));
            value.extend_from_slice(b"\r\n");
            value.extend_from_slice(line);
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .unwrap_or_else(|| panic!("a header line without a colon on the wire"));
        let name = String::from_utf8_lossy(&line[..colon]).trim_end().to_ascii_lowercase();
        fields.push((name, line[colon + 1..].to_vec()));
    };
    let fields = fields
        .into_iter()
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(&value).replace("\r\n", "");
            (name, text.trim().to_owned())
        })
        .collect();
    (fields, end)
}

/// The fields as parsed, in the terms `server_fields` reads the wire in:
/// a raw value's bytes (as they are written back), not its decoded text
/// (`as_text` reads encoded-words' raw 8-bit bytes in their charset).
fn parsed_fields(message: &Message) -> Vec<(String, String)> {
    message
        .headers()
        .iter()
        .map(|f| {
            let text = match f.value().raw_bytes() {
                Some(raw) => {
                    let text = String::from_utf8_lossy(raw);
                    text.replace("\r\n", "").replace('\n', "").trim().to_owned()
                }
                None => f.value().as_text().into_owned(),
            };
            (f.name().as_str().to_ascii_lowercase(), text)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let written = message
            .to_bytes()
            .unwrap_or_else(|e| panic!("a parsed message does not write: {e}"));
        let Body::Raw(body) = message.body() else {
            panic!("parse gave another body than Raw");
        };
        let header_len = written.len() - body.len();
        let on_wire = wire(&written);
        let (fields, end) = server_fields(&on_wire);
        assert_eq!(fields, parsed_fields(&message), "the server reads other fields");
        assert_eq!(end, header_len, "the header ends elsewhere on the wire");
        let again = Message::parse(&on_wire)
            .unwrap_or_else(|e| panic!("the wire form does not parse again: {e}"));
        assert_eq!(parsed_fields(&again), fields, "parsing the wire form gives other fields");
    }
    let tolerant = reader::parse(data).message;
    if let Ok(written) = tolerant.to_bytes() {
        // The writer writes the MIME fields a body decides (MIME-Version,
        // Content-Type, Content-Transfer-Encoding) from what it parsed: once,
        // after the others, in its own spelling. Every other field must come
        // out as it was kept, none more, none less.
        let others = |list: Vec<(String, String)>| {
            let mut list: Vec<_> = list
                .into_iter()
                .filter(|(name, _)| {
                    !matches!(
                        name.as_str(),
                        "mime-version" | "content-type" | "content-transfer-encoding"
                    )
                })
                .collect();
            list.sort();
            list
        };
        let (fields, _) = server_fields(&wire(&written));
        assert_eq!(
            others(fields),
            others(parsed_fields(&tolerant)),
            "the server reads other fields (tolerant)"
        );
    }
});
