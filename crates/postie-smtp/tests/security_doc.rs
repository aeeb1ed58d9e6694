//! SECURITY.md backs each claim with the tests that prove it, written as
//! `file.rs`: `test_name`, ... This checks that every test it names exists
//! (as `fn test_name` in a file of that name), so the document cannot
//! point at a test that was renamed or removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file of the repository, build output aside.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | ".test-servers") {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn is_test_name(token: &str) -> bool {
    token.contains('_')
        && token
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// (file, test) pairs: a `file.rs` token starts a list, and the test
/// names right after it belong to it, as long as only separators (`:`,
/// `,`, `;`, spaces) stand between them: words or a table cell end it.
fn named_tests(doc: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut file: Option<String> = None;
    for (i, token) in doc.split('`').enumerate() {
        if i % 2 == 0 {
            let separators_only = token
                .chars()
                .all(|c| c.is_whitespace() || matches!(c, ':' | ',' | ';'));
            if !separators_only {
                file = None;
            }
            continue;
        }
        if token.ends_with(".rs") {
            file = Some(token.to_owned());
        } else if let (Some(f), true) = (&file, is_test_name(token)) {
            pairs.push((f.clone(), token.to_owned()));
        } else {
            file = None;
        }
    }
    pairs
}

#[test]
fn every_test_security_md_names_exists() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let pairs = named_tests(&doc);
    assert!(
        pairs.len() > 40,
        "only {} tests found in SECURITY.md",
        pairs.len()
    );
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut missing = Vec::new();
    for (file, test) in &pairs {
        let found = files
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(&format!("/{file}")))
            .any(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                text.contains(&format!("fn {test}("))
            });
        if !found {
            missing.push(format!("{file}: {test}"));
        }
    }
    assert!(
        missing.is_empty(),
        "SECURITY.md names missing tests: {missing:?}"
    );
}

#[test]
fn the_reader_of_the_document_finds_lists_and_skips_flags() {
    let pairs = named_tests(
        "see `a.rs`: `one_test`, `two_test`; `b/c.rs`: `x_y` |\n| `not_this` and `a_b`",
    );
    assert_eq!(
        pairs,
        [
            ("a.rs".to_owned(), "one_test".to_owned()),
            ("a.rs".to_owned(), "two_test".to_owned()),
            ("b/c.rs".to_owned(), "x_y".to_owned()),
        ]
    );
}
