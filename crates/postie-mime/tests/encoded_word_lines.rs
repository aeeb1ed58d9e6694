//! RFC 2047 §2: a header line that holds an encoded-word may be at most 76
//! characters long. Whatever display names and unstructured text the writer
//! is given, every line it writes that holds an encoded-word keeps to that
//! (CRLF not counted), and the reader gives the same text back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postie_mime::address::{self, Address};
use postie_mime::decode::decode_rfc2047;
use postie_mime::reader::{self, PartExt};
use postie_mime::Message;
use proptest::prelude::*;

/// Words of every kind the encoder treats differently: ASCII, Latin
/// letters (Q or B), CJK (B), mostly ASCII with one accent (long Q words
/// that fill all 75 octets), specials (escaped in phrases).
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,12}",
        "[àéîõüßçñøå]{1,8}",
        "[日本語テキスト]{1,6}",
        "[a-z]{0,30}é[a-z]{0,50}",
        "[!#$%&*+/=?^_`{|}~.,;:()<>@\\[\\]'-]{1,3}",
    ]
}

/// Words with single spaces between them (runs of white space are
/// collapsed between encoded-words by design).
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(word(), 1..9).prop_map(|words| words.join(" "))
}

/// A display name, to be written quoted.
fn display_name() -> impl Strategy<Value = String> {
    text().prop_map(|name| name.replace(['"', '\\'], "x"))
}

/// The header section's lines that hold an encoded-word and are longer
/// than 76 octets.
fn long_encoded_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let header = text.split("\r\n\r\n").next().unwrap();
    header
        .split("\r\n")
        .filter(|line| line.contains("=?") && line.len() > 76)
        .map(str::to_owned)
        .collect()
}

/// The display names and addresses of an address field, decoded, with the
/// group (if any) named first.
fn names_and_addresses(message: &Message, field: &str) -> Vec<(Option<String>, String)> {
    let value = message.headers().get(field).unwrap().as_text();
    let list = address::parse_address_list(&value)
        .unwrap_or_else(|e| panic!("{field} does not parse back: {e}: {value}"));
    let mut out = Vec::new();
    for item in list {
        match item {
            Address::Mailbox(m) => out.push((m.name().map(decode_rfc2047), m.addr_spec())),
            Address::Group { name, members } => {
                out.push((Some(decode_rfc2047(&name)), "group".to_owned()));
                out.extend(
                    members
                        .iter()
                        .map(|m| (m.name().map(decode_rfc2047), m.addr_spec())),
                );
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn lines_with_encoded_words_stay_within_76_and_read_back(
        from in display_name(),
        to in proptest::collection::vec(display_name(), 1..4),
        group in display_name(),
        subject in text(),
    ) {
        let mut message = Message::text("body");
        let headers = message.headers_mut();
        headers.set("From", &format!("\"{from}\" <from@example.org>")).unwrap();
        let to_list: Vec<String> = to
            .iter()
            .enumerate()
            .map(|(i, name)| format!("\"{name}\" <to{i}@example.org>"))
            .collect();
        headers.set("To", &to_list.join(", ")).unwrap();
        headers
            .set("Cc", &format!("\"{group}\": \"{from}\" <cc@example.org>;"))
            .unwrap();
        headers.set("Subject", &subject).unwrap();
        let bytes = message.to_bytes().unwrap();

        let long = long_encoded_lines(&bytes);
        prop_assert!(long.is_empty(), "lines over 76 octets: {:#?}", long);

        let parsed = reader::parse(&bytes);
        prop_assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
        let back = &parsed.message;
        prop_assert_eq!(back.header_text("Subject").unwrap(), subject);
        prop_assert_eq!(
            names_and_addresses(back, "From"),
            vec![(Some(from.clone()), "from@example.org".to_owned())]
        );
        let expected_to: Vec<(Option<String>, String)> = to
            .iter()
            .enumerate()
            .map(|(i, name)| (Some(name.clone()), format!("to{i}@example.org")))
            .collect();
        prop_assert_eq!(names_and_addresses(back, "To"), expected_to);
        prop_assert_eq!(
            names_and_addresses(back, "Cc"),
            vec![
                (Some(group), "group".to_owned()),
                (Some(from), "cc@example.org".to_owned()),
            ]
        );
    }
}
