//! Media types guessed from file names, for attachments.
//!
//! The table holds the types of the file kinds most often attached to mail,
//! using the IANA-registered name where there is one and the de facto one
//! otherwise. Anything else is `application/octet-stream`.
//!
//! ```
//! use postie_mime::mime_types::{extension_for, guess};
//!
//! assert_eq!(guess("Report.PDF"), "application/pdf");
//! assert_eq!(guess("/home/me/photos/cat.jpeg"), "image/jpeg");
//! assert_eq!(guess("backup.tar.gz"), "application/gzip");
//! assert_eq!(guess("Makefile"), "application/octet-stream");
//! assert_eq!(extension_for("image/JPEG"), Some("jpg"));
//! ```

/// The type for an unknown or missing extension.
pub const DEFAULT: &str = "application/octet-stream";

/// Lowercase extension and media type. Where several extensions share a
/// type, the first listed is the usual one (see [`extension_for`]).
const TABLE: &[(&str, &str)] = &[
    // Text.
    ("txt", "text/plain"),
    ("text", "text/plain"),
    ("log", "text/plain"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("md", "text/markdown"),
    ("markdown", "text/markdown"),
    ("ics", "text/calendar"),
    ("vcf", "text/vcard"),
    ("vcard", "text/vcard"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("py", "text/x-python"),
    ("rs", "text/x-rust"),
    ("c", "text/x-c"),
    ("h", "text/x-c"),
    ("cpp", "text/x-c++"),
    ("hpp", "text/x-c++"),
    ("java", "text/x-java"),
    ("go", "text/x-go"),
    ("patch", "text/x-diff"),
    ("diff", "text/x-diff"),
    // Structured data and documents.
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("toml", "application/toml"),
    ("sql", "application/sql"),
    ("sh", "application/x-sh"),
    ("pdf", "application/pdf"),
    ("rtf", "application/rtf"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("epub", "application/epub+zip"),
    ("eml", "message/rfc822"),
    ("p7s", "application/pkcs7-signature"),
    ("asc", "application/pgp-signature"),
    ("pem", "application/x-pem-file"),
    // Archives.
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
    ("zst", "application/zstd"),
    ("7z", "application/x-7z-compressed"),
    ("rar", "application/vnd.rar"),
    // Images.
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("jpe", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ico", "image/vnd.microsoft.icon"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("avif", "image/avif"),
    // Audio.
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("opus", "audio/opus"),
    ("m4a", "audio/mp4"),
    ("flac", "audio/flac"),
    ("aac", "audio/aac"),
    ("mid", "audio/midi"),
    ("midi", "audio/midi"),
    // Video.
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("mov", "video/quicktime"),
    ("webm", "video/webm"),
    ("avi", "video/x-msvideo"),
    ("mkv", "video/x-matroska"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("ogv", "video/ogg"),
    // Fonts.
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    // Programs and images of disks.
    ("wasm", "application/wasm"),
    ("jar", "application/java-archive"),
    ("apk", "application/vnd.android.package-archive"),
    ("exe", "application/vnd.microsoft.portable-executable"),
    ("msi", "application/x-msi"),
    ("dmg", "application/x-apple-diskimage"),
    ("iso", "application/x-iso9660-image"),
    ("bin", "application/octet-stream"),
];

/// The media type for `file_name`, from its extension (the text after the
/// last `.` of the last path component, `/` or `\` separated), whose case
/// does not matter. An unknown extension, or none, gives
/// [`DEFAULT`] (`application/octet-stream`). A leading dot alone
/// (`.profile`) is not an extension.
///
/// ```
/// use postie_mime::mime_types::guess;
///
/// assert_eq!(guess("notes.MD"), "text/markdown");
/// assert_eq!(guess(r"C:\Users\me\invite.ics"), "text/calendar");
/// assert_eq!(guess("dir.d/README"), "application/octet-stream");
/// assert_eq!(guess(".json"), "application/octet-stream");
/// ```
pub fn guess(file_name: &str) -> &'static str {
    // Bytes, not characters, are searched: the separators are ASCII, so
    // every place found is a character boundary.
    let bytes = file_name.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'/' || b == b'\\')
        .map_or(0, |at| at + 1);
    let base = file_name.get(start..).unwrap_or_default().trim_end();
    let extension = match base.as_bytes().iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 && dot + 1 < base.len() => base.get(dot + 1..).unwrap_or_default(),
        _ => return DEFAULT,
    };
    // The table's extensions are lowercase: the extension is lowered once
    // (on the stack; none in the table is longer than 8) and found by its
    // bytes as a number in the table sorted by that number: seven steps
    // of a binary search instead of a walk through a hundred entries (an
    // attachment's type is guessed for every message built).
    let mut lower = [0u8; 8];
    let Some(lower) = lower.get_mut(..extension.len()) else {
        return DEFAULT;
    };
    lower.copy_from_slice(extension.as_bytes());
    lower.make_ascii_lowercase();
    // Two extensions with the same number differ only by trailing NULs,
    // which no table entry has: the comparison of the bytes settles it.
    match BY_KEY.binary_search_by_key(&key(lower), |&(k, _, _)| k) {
        Ok(at) => match BY_KEY.get(at) {
            Some(&(_, ext, mime)) if ext.as_bytes() == lower => mime,
            _ => DEFAULT,
        },
        Err(_) => DEFAULT,
    }
}

/// The bytes of an extension of at most 8 bytes as a little-endian number
/// (bytes past the eighth are not counted: none in the table has them,
/// and a longer one never gets this far).
const fn key(ext: &[u8]) -> u64 {
    let mut key = 0u64;
    let mut i = 0;
    while i < ext.len() && i < 8 {
        key |= (ext[i] as u64) << (8 * i);
        i += 1;
    }
    key
}

/// [`TABLE`] as (key, extension, type), sorted by key, made at compile
/// time for [`guess`].
static BY_KEY: [(u64, &str, &str); TABLE.len()] = {
    let mut sorted = [(0u64, "", ""); TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        let (ext, mime) = TABLE[i];
        sorted[i] = (key(ext.as_bytes()), ext, mime);
        i += 1;
    }
    // Insertion sort: a hundred entries, once, by the compiler.
    let mut i = 1;
    while i < sorted.len() {
        let mut j = i;
        while j > 0 && sorted[j - 1].0 > sorted[j].0 {
            let swap = sorted[j - 1];
            sorted[j - 1] = sorted[j];
            sorted[j] = swap;
            j -= 1;
        }
        i += 1;
    }
    sorted
};

/// The usual extension (lowercase, without the dot) for a media type in
/// the table, whose case does not matter and whose parameters, if any, are
/// ignored; `None` for types it does not know and for
/// `application/octet-stream`.
///
/// ```
/// use postie_mime::mime_types::extension_for;
///
/// assert_eq!(extension_for("text/html; charset=utf-8"), Some("html"));
/// assert_eq!(extension_for("application/x-unknown"), None);
/// ```
pub fn extension_for(mime_type: &str) -> Option<&'static str> {
    let essence = mime_type.split(';').next().unwrap_or(mime_type).trim();
    if essence.eq_ignore_ascii_case(DEFAULT) {
        return None;
    }
    TABLE
        .iter()
        .find(|(_, m)| m.eq_ignore_ascii_case(essence))
        .map(|&(e, _)| e)
}

/// Every media type of the table, for tests that hold other code to it.
#[cfg(test)]
pub(crate) fn all_types() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|&(_, mime)| mime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_lowercase_with_short_extensions() {
        for (extension, _) in TABLE {
            assert!(extension.len() <= 8, "{extension}");
            assert_eq!(*extension, extension.to_ascii_lowercase());
            // No NUL: the sorted table's numbers are then one per extension.
            assert!(!extension.contains('\0'), "{extension}");
        }
        assert!(BY_KEY.windows(2).all(|w| w[0].0 < w[1].0));
        // The search finds what a walk through the table finds, for every
        // extension and a few that are not there.
        let walk = |ext: &str| {
            TABLE
                .iter()
                .find(|(e, _)| e.eq_ignore_ascii_case(ext))
                .map_or(DEFAULT, |&(_, m)| m)
        };
        for (extension, mime) in TABLE {
            assert_eq!(guess(&format!("f.{extension}")), *mime);
            assert_eq!(guess(&format!("f.{}", extension.to_uppercase())), *mime);
            for odd in [
                format!("{extension}\0"),
                format!("{extension}x"),
                format!("x{extension}"),
            ] {
                assert_eq!(guess(&format!("f.{odd}")), walk(&odd), "{odd:?}");
            }
        }
        assert_eq!(guess("a.PDF"), "application/pdf");
        assert_eq!(guess("a.verylongext"), DEFAULT);
    }

    #[test]
    fn common_types() {
        let cases = [
            ("a.txt", "text/plain"),
            ("a.html", "text/html"),
            ("a.htm", "text/html"),
            ("a.css", "text/css"),
            ("a.csv", "text/csv"),
            ("a.json", "application/json"),
            ("a.xml", "application/xml"),
            ("a.pdf", "application/pdf"),
            ("a.zip", "application/zip"),
            ("a.gz", "application/gzip"),
            ("a.tgz", "application/gzip"),
            ("a.tar", "application/x-tar"),
            ("a.7z", "application/x-7z-compressed"),
            ("a.rar", "application/vnd.rar"),
            ("a.doc", "application/msword"),
            (
                "a.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            ("a.xls", "application/vnd.ms-excel"),
            (
                "a.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            ("a.ppt", "application/vnd.ms-powerpoint"),
            (
                "a.pptx",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ),
            ("a.odt", "application/vnd.oasis.opendocument.text"),
            ("a.ods", "application/vnd.oasis.opendocument.spreadsheet"),
            ("a.odp", "application/vnd.oasis.opendocument.presentation"),
            ("a.rtf", "application/rtf"),
            ("a.md", "text/markdown"),
            ("a.ics", "text/calendar"),
            ("a.vcf", "text/vcard"),
            ("a.eml", "message/rfc822"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.svg", "image/svg+xml"),
            ("a.bmp", "image/bmp"),
            ("a.tif", "image/tiff"),
            ("a.tiff", "image/tiff"),
            ("a.ico", "image/vnd.microsoft.icon"),
            ("a.heic", "image/heic"),
            ("a.mp3", "audio/mpeg"),
            ("a.wav", "audio/wav"),
            ("a.ogg", "audio/ogg"),
            ("a.m4a", "audio/mp4"),
            ("a.flac", "audio/flac"),
            ("a.mp4", "video/mp4"),
            ("a.m4v", "video/mp4"),
            ("a.mov", "video/quicktime"),
            ("a.webm", "video/webm"),
            ("a.avi", "video/x-msvideo"),
            ("a.mkv", "video/x-matroska"),
            ("a.js", "text/javascript"),
            ("a.sh", "application/x-sh"),
            ("a.py", "text/x-python"),
            ("a.rs", "text/x-rust"),
            ("a.c", "text/x-c"),
            ("a.h", "text/x-c"),
            ("a.patch", "text/x-diff"),
            ("a.diff", "text/x-diff"),
            ("a.log", "text/plain"),
            ("a.yaml", "application/yaml"),
            ("a.yml", "application/yaml"),
            ("a.toml", "application/toml"),
            ("a.woff", "font/woff"),
            ("a.woff2", "font/woff2"),
            ("a.ttf", "font/ttf"),
            ("a.otf", "font/otf"),
            ("a.epub", "application/epub+zip"),
            ("a.apk", "application/vnd.android.package-archive"),
            ("a.exe", "application/vnd.microsoft.portable-executable"),
            ("a.dmg", "application/x-apple-diskimage"),
            ("a.iso", "application/x-iso9660-image"),
            ("a.bin", "application/octet-stream"),
        ];
        for (name, mime) in cases {
            assert_eq!(guess(name), mime, "{name}");
        }
        assert!(TABLE.len() >= 60);
    }

    #[test]
    fn case_paths_and_odd_names() {
        assert_eq!(guess("PHOTO.JPG"), "image/jpeg");
        assert_eq!(guess("Photo.JpEg"), "image/jpeg");
        assert_eq!(guess("archive.tar.gz"), "application/gzip");
        assert_eq!(guess("/tmp/x.y/readme"), DEFAULT);
        assert_eq!(guess(r"C:\dir.d\file.PNG"), "image/png");
        assert_eq!(guess("mixed\\dir/file.csv"), "text/csv");
        assert_eq!(guess("name.pdf  "), "application/pdf");
        for odd in [
            "",
            ".",
            "..",
            ".bashrc",
            "file.",
            "file..",
            "/",
            "\\",
            "a/",
            "noext",
            "a.unknownext",
            "é.é",
            "日本語.ｐｄｆ",
            "a.p\u{0}df",
        ] {
            assert_eq!(guess(odd), DEFAULT, "{odd:?}");
        }
        assert_eq!(guess("日本語の資料.pdf"), "application/pdf");
        assert_eq!(guess("..pdf"), "application/pdf");
    }

    #[test]
    fn table_is_clean() {
        for (i, (ext, mime)) in TABLE.iter().enumerate() {
            assert_eq!(*ext, ext.to_ascii_lowercase(), "{ext}");
            assert_eq!(*mime, mime.to_ascii_lowercase(), "{mime}");
            assert!(!ext.contains('.'), "{ext}");
            let (t, s) = mime.split_once('/').unwrap();
            assert!(
                crate::fields::rfc2231::is_token(t) && crate::fields::rfc2231::is_token(s),
                "{mime}"
            );
            assert!(
                TABLE[..i].iter().all(|(e, _)| e != ext),
                "duplicate extension {ext}"
            );
        }
    }

    #[test]
    fn extension_lookup() {
        assert_eq!(extension_for("image/jpeg"), Some("jpg"));
        assert_eq!(extension_for("TEXT/PLAIN"), Some("txt"));
        assert_eq!(extension_for(" application/pdf ; name=x"), Some("pdf"));
        assert_eq!(extension_for("application/gzip"), Some("gz"));
        assert_eq!(extension_for(DEFAULT), None);
        assert_eq!(extension_for(""), None);
        for (ext, mime) in TABLE {
            if *mime != DEFAULT {
                let usual = extension_for(mime).unwrap();
                assert_eq!(guess(&format!("x.{usual}")), *mime, "{ext}");
            }
        }
    }
}
