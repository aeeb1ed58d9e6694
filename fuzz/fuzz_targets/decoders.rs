//! The lenient decoders: quoted-printable, base64, RFC 2231 parameters,
//! Content-Type and Content-Disposition.
//!
//! Besides "no panic": quoted-printable never grows its input, lenient
//! base64 gives at most 3 bytes per 4 input bytes (plus the tail), what we
//! encode decodes back to itself, and a Content-Type or Content-Disposition
//! that parses writes a header value that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::content_type::{ContentDisposition, ContentType};
use postie_mime::{base64_stream, quoted_printable, rfc2231};


fuzz_target!(|data: &[u8]| {
    let qp = quoted_printable::decode(data);
    assert!(qp.len() <= data.len(), "quoted-printable grew");
    let mut encoded = Vec::new();
    quoted_printable::encode(data, &mut encoded);
    // The encoder turns CR, LF and CRLF into CRLF (text mode), so compare
    // with the line breaks made uniform.
    let decoded = quoted_printable::decode(&encoded);
    let normalise = |b: &[u8]| -> Vec<u8> {
        String::from_utf8_lossy(b).replace("\r\n", "\n").replace('\r', "\n").into_bytes()
    };
    assert_eq!(normalise(&decoded), normalise(data), "quoted-printable round trip");

    let b64 = base64_stream::decode_lenient(data);
    assert!(b64.len() <= data.len() / 4 * 3 + 3, "base64 grew");

    let text = String::from_utf8_lossy(data);

    // RFC 2231: the input's lines as `name=value` pairs.
    let pairs: Vec<(String, String)> = text
        .split('\n')
        .map(|line| match line.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect();
    let _ = rfc2231::decode_params(&pairs);
    for (name, value) in pairs.iter().take(4) {
        if rfc2231::is_token(name) && !name.contains('*') && !name.is_empty() {
            let mut out = String::new();
            rfc2231::write_param(name, value, &mut out);
            let _ = rfc2231::param_pieces(name, value);
        }
    }

    if let Ok(ct) = ContentType::parse(&text) {
        let _ = (ct.essence(), ct.charset(), ct.boundary(), ct.is_multipart(), ct.pieces());
        let value = ct.header_value();
        let again = ContentType::parse(&value)
            .unwrap_or_else(|e| panic!("{value:?} (from {text:?}) does not parse back: {e}"));
        assert_eq!(again, ct, "{value:?} (from {text:?}) parses back differently");
    }
    if let Ok(cd) = ContentDisposition::parse(&text) {
        let _ = (cd.kind(), cd.filename(), cd.is_attachment(), cd.pieces());
        let value = cd.header_value();
        let again = ContentDisposition::parse(&value)
            .unwrap_or_else(|e| panic!("{value:?} (from {text:?}) does not parse back: {e}"));
        assert_eq!(again, cd, "{value:?} (from {text:?}) parses back differently");
    }
});
