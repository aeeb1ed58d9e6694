//! Decoding a chunk at a time gives what decoding at once gives, however
//! the input is cut; a body kept in a file is decoded from the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use postie_mime::decode::{decode_transfer, TransferDecoder};
use postie_mime::quoted_printable;
use postie_mime::reader::PartExt;
use postie_mime::Message;
use proptest::prelude::*;

fn streamed(input: &[u8], cuts: &[usize], encoding: &str) -> Vec<u8> {
    let mut decoder = TransferDecoder::new(Some(encoding));
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let end = (start + cut).min(input.len());
        decoder.push(&input[start..end], &mut out);
        start = end;
    }
    decoder.push(&input[start..], &mut out);
    decoder.finish(&mut out);
    out
}

/// Encoded-looking soup: base64 and quoted-printable characters, line
/// breaks of every kind, `=` sequences good and bad, stray bytes.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            "[A-Za-z0-9+/]{0,8}".prop_map(String::into_bytes),
            Just(b"=".to_vec()),
            Just(b"=\r\n".to_vec()),
            Just(b"=3D".to_vec()),
            Just(b"=c3=a9".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b" \t".to_vec()),
            any::<u8>().prop_map(|b| vec![b]),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn streaming_equals_one_shot(
        input in soup(),
        cuts in proptest::collection::vec(0usize..12, 0..12),
    ) {
        for encoding in ["base64", "quoted-printable", "8bit"] {
            prop_assert_eq!(
                streamed(&input, &cuts, encoding),
                decode_transfer(&input, Some(encoding)),
                "{}", encoding
            );
        }
    }

    /// One quoted-printable decoder: the public one is the one the reader
    /// uses, whole or streamed, padding and soft breaks included.
    #[test]
    fn quoted_printable_decode_is_the_readers(
        input in soup(),
        cuts in proptest::collection::vec(0usize..12, 0..12),
    ) {
        let public = quoted_printable::decode(&input);
        prop_assert_eq!(&public, &decode_transfer(&input, Some("quoted-printable")));
        prop_assert_eq!(&public, &streamed(&input, &cuts, "quoted-printable"));
    }
}

#[test]
fn quoted_printable_cases_read_alike_everywhere() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"a= \t\r\nb", b"ab"),
        (b"a=\t\nb", b"ab"),
        (b"end  \r\nnext\t\n", b"end\r\nnext\n"),
        (b"=41=4a=zz=", b"AJ=zz"),
        (b"keep = this", b"keep = this"),
    ];
    for (input, expected) in cases {
        assert_eq!(quoted_printable::decode(input), *expected, "{input:?}");
        assert_eq!(
            decode_transfer(input, Some("quoted-printable")),
            *expected,
            "{input:?}"
        );
    }
}

#[test]
fn a_body_kept_in_a_file_is_decoded_from_it() {
    let dir = std::env::temp_dir().join(format!("postie-stream-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut encoded = Vec::new();
    {
        let mut w = postie_mime::base64_stream::Base64Writer::new(&mut encoded);
        w.write_all(&data).unwrap();
        w.finish().unwrap();
    }
    let path = dir.join("big.eml");
    let mut file = b"Subject: big\r\nContent-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    file.extend_from_slice(&encoded);
    std::fs::write(&path, &file).unwrap();
    let message = Message::parse_file(&path).unwrap();
    let mut out = Vec::new();
    message.write_decoded(&mut out).unwrap();
    assert_eq!(out, data);
    assert_eq!(message.decoded_body(), data);
    std::fs::remove_dir_all(&dir).unwrap();
}
