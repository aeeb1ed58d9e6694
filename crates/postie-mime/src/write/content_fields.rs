//! The fields the writer makes for each entity itself (MIME-Version,
//! Content-Type, Content-Transfer-Encoding), written straight into the
//! output.
//!
//! Every entity has them, so they are the most written fields of all; a
//! multipart's Content-Type with its boundary is usually too long for one
//! line. Going through a value string and the general folder (which looks
//! for encoded-word lookalikes and splits at every space) cost an
//! allocation and a second pass per field. Here a type and its parameters
//! are written piece by piece, folded before a parameter that would take
//! the line past 78 characters, exactly where the general folder folds
//! them; anything unusual (a parameter that needs RFC 2231 pieces, a value
//! that looks like an encoded-word) takes the general path instead.

use crate::fields::rfc2231::{self, PlainPiece};
use crate::message::TransferEncoding;
use crate::write::headers as write;
use crate::Error;

/// Lines are folded to this length (RFC 5322 §2.1.1).
const FOLD_AT: usize = 78;

const CONTENT_TYPE: &str = "Content-Type: ";

/// `MIME-Version: 1.0`.
pub(crate) fn write_mime_version(out: &mut Vec<u8>) {
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
}

/// `Content-Transfer-Encoding: <encoding>` and the blank line that ends the
/// entity's header section.
pub(crate) fn write_encoding_and_end(out: &mut Vec<u8>, encoding: TransferEncoding) {
    // Whole lines as constants: one copy of a known length each, which
    // the compiler writes in place, rather than three.
    out.extend_from_slice(match encoding {
        TransferEncoding::SevenBit => b"Content-Transfer-Encoding: 7bit\r\n\r\n".as_slice(),
        TransferEncoding::QuotedPrintable => {
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n".as_slice()
        }
        TransferEncoding::Base64 => b"Content-Transfer-Encoding: base64\r\n\r\n".as_slice(),
    });
}

/// Writes `Content-Type: <type>/<subtype>` (the two halves of `essence`
/// given apart, so that `text/` and a subtype need not be joined first)
/// and `params`, each as RFC 2231 writes it, folded before a parameter
/// that would not fit the line.
pub(crate) fn write_content_type<'p>(
    out: &mut Vec<u8>,
    essence: [&str; 2],
    params: impl Iterator<Item = (&'p str, &'p str)> + Clone,
) -> Result<(), Error> {
    let start = out.len();
    if write_plain(out, essence, params.clone()) {
        return Ok(());
    }
    out.truncate(start);
    let mut value = String::with_capacity(96);
    value.push_str(essence[0]);
    value.push_str(essence[1]);
    for (name, param) in params {
        rfc2231::write_param(name, param, &mut value);
    }
    check_line_breaks(&value)?;
    write::write_text_field("Content-Type", &value, out)
}

/// The common case of [`write_content_type`]: a type of token characters
/// and parameters that are each one plain piece, none holding both `=?`
/// and `?=` (the general writer would encode such a value). False, with
/// some of the field written, when the field needs the general path.
fn write_plain<'p>(
    out: &mut Vec<u8>,
    essence: [&str; 2],
    params: impl Iterator<Item = (&'p str, &'p str)>,
) -> bool {
    // A fold, not a search that stops early: these are a few bytes, and
    // the fold is branch-free.
    let type_ok = essence.iter().fold(true, |ok, half| {
        half.bytes()
            .fold(ok, |ok, b| ok & b.is_ascii_graphic() & (b != b';'))
    });
    let mut column = CONTENT_TYPE.len() + essence[0].len() + essence[1].len();
    if !type_ok || column > FOLD_AT {
        return false;
    }
    out.extend_from_slice(CONTENT_TYPE.as_bytes());
    out.extend_from_slice(essence[0].as_bytes());
    out.extend_from_slice(essence[1].as_bytes());
    for (name, value) in params {
        let Some(piece) = PlainPiece::of(name, value) else {
            return false;
        };
        if piece.has_question_mark && write::looks_encoded(value.as_bytes()) {
            return false;
        }
        // The general folder folds before the white space after a `;`,
        // when the piece after it would pass the limit.
        if column + 2 + piece.len > FOLD_AT {
            out.extend_from_slice(b";\r\n ");
            column = 1;
        } else {
            out.extend_from_slice(b"; ");
            column += 2;
        }
        piece.write(name, value, out);
        column += piece.len;
    }
    out.extend_from_slice(b"\r\n");
    true
}

/// `Content-Type: text/<subtype>; charset=<charset>` for a text leaf, whose
/// charset is one of the writer's own (a token). The general
/// [`write_content_type`] when the subtype is not a short token.
pub(crate) fn write_text_type(
    out: &mut Vec<u8>,
    subtype: &str,
    charset: &'static str,
) -> Result<(), Error> {
    const HEAD: &str = "Content-Type: text/";
    const PARAM: &str = "; charset=";
    // The usual lines whole, as constants: no checks and one copy.
    if let Some(line) = usual_text_type(subtype, charset) {
        out.extend_from_slice(line.as_bytes());
        return Ok(());
    }
    let fits = HEAD.len() + subtype.len() + PARAM.len() + charset.len() <= FOLD_AT;
    if fits && rfc2231::is_token(subtype) && rfc2231::is_token(charset) {
        out.extend_from_slice(HEAD.as_bytes());
        out.extend_from_slice(subtype.as_bytes());
        out.extend_from_slice(PARAM.as_bytes());
        out.extend_from_slice(charset.as_bytes());
        out.extend_from_slice(b"\r\n");
        return Ok(());
    }
    write_content_type(
        out,
        ["text/", subtype],
        std::iter::once(("charset", charset)),
    )
}

/// The Content-Type line of the usual text leaves (plain or HTML, in
/// either of the charsets the writer gives text), as the general case of
/// [`write_text_type`] writes it.
fn usual_text_type(subtype: &str, charset: &str) -> Option<&'static str> {
    Some(match (subtype, charset) {
        ("plain", "us-ascii") => "Content-Type: text/plain; charset=us-ascii\r\n",
        ("plain", "utf-8") => "Content-Type: text/plain; charset=utf-8\r\n",
        ("html", "us-ascii") => "Content-Type: text/html; charset=us-ascii\r\n",
        ("html", "utf-8") => "Content-Type: text/html; charset=utf-8\r\n",
        _ => return None,
    })
}

/// A value with a line break or NUL would end the field early: refused
/// (the writer builds its values from checked parts, so this is a last
/// guard).
pub(crate) fn check_line_breaks(value: &str) -> Result<(), Error> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        return Err(Error::InvalidHeaderValue {
            name: "Content-Type".to_owned(),
            reason: "it contains a CR, LF or NUL",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::content_type::ContentType;

    fn direct(ct: &ContentType) -> String {
        let mut out = Vec::new();
        let (type_, subtype) = ct.essence().split_at(ct.type_().len());
        write_content_type(
            &mut out,
            [type_, subtype],
            ct.params().iter().map(|(n, v)| (n.as_ref(), v.as_str())),
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn general(ct: &ContentType) -> String {
        let mut out = Vec::new();
        write::write_text_field("Content-Type", &ct.header_value(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn usual_text_types_and_encodings_are_the_lines_built_piece_by_piece() {
        for subtype in ["plain", "html"] {
            for charset in ["us-ascii", "utf-8"] {
                let mut out = Vec::new();
                write_text_type(&mut out, subtype, charset).unwrap();
                let ct = ContentType::new("text", subtype)
                    .unwrap()
                    .with_param("charset", charset);
                assert_eq!(String::from_utf8(out).unwrap(), general(&ct));
            }
        }
        for encoding in [
            TransferEncoding::SevenBit,
            TransferEncoding::QuotedPrintable,
            TransferEncoding::Base64,
        ] {
            let mut out = Vec::new();
            write_encoding_and_end(&mut out, encoding);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("Content-Transfer-Encoding: {}\r\n\r\n", encoding.as_str())
            );
        }
    }

    #[test]
    fn the_same_bytes_as_the_general_folder() {
        let boundary = "=_postie_GUGX3XPtFxn1l9KAAAAAAAAF";
        for subtype in [
            "mixed",
            "alternative",
            "related",
            "x-a-rather-long-subtype-name",
        ] {
            let ct = ContentType::new("multipart", subtype)
                .unwrap()
                .with_param("boundary", boundary);
            assert_eq!(direct(&ct), general(&ct));
        }
        let ct = ContentType::new("text", "plain")
            .unwrap()
            .with_param("charset", "us-ascii")
            .with_param("format", "flowed")
            .with_param("name", "\"quoted\"\\name.txt")
            .with_param("x-long", &"y".repeat(60));
        assert_eq!(direct(&ct), general(&ct));
        for ct in [
            "application/pdf",
            "image/png; name=x.png",
            "text/csv; header=present",
        ] {
            let ct = ContentType::parse(ct).unwrap();
            assert_eq!(direct(&ct), general(&ct));
        }
    }

    #[test]
    fn a_text_type_is_the_general_one() {
        for subtype in [
            "plain",
            "html",
            "x-a-long-subtype-name-that-makes-the-line-too-long-for-78",
            "a b",
        ] {
            for charset in ["us-ascii", "utf-8", "unknown-8bit"] {
                let mut direct = Vec::new();
                write_text_type(&mut direct, subtype, charset).unwrap();
                let mut general = Vec::new();
                write::write_text_field(
                    "Content-Type",
                    &format!("text/{subtype}; charset={charset}"),
                    &mut general,
                )
                .unwrap();
                assert_eq!(
                    String::from_utf8(direct).unwrap(),
                    String::from_utf8(general).unwrap()
                );
            }
        }
    }

    #[test]
    fn unusual_parameters_take_the_general_path() {
        for (name, value) in [
            ("name", "résumé.pdf"),
            ("name", &"x".repeat(200)),
            ("name", "=?utf-8?q?x?="),
            ("name", ""),
        ] {
            let ct = ContentType::new("application", "octet-stream")
                .unwrap()
                .with_param(name, value);
            assert_eq!(direct(&ct), general(&ct), "{value}");
        }
    }

    #[test]
    fn folded_lines_stay_within_78() {
        let mut ct = ContentType::new("multipart", "alternative").unwrap();
        for i in 0..12 {
            ct.set_param(&format!("p{i}"), &"v".repeat(i * 6));
        }
        // A quoted value with spaces, which the general folder may fold
        // inside; here the fold comes before it. Either way, taking the
        // line breaks out gives back the one line.
        ct.set_param("name", "a \"quoted\" \\ name.txt");
        let out = direct(&ct);
        for line in out.trim_end().split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line}");
        }
        assert_eq!(out.replace("\r\n", ""), general(&ct).replace("\r\n", ""));
    }
}
