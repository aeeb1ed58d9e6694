//! The DKIM verifiers the test servers set up (`scripts/servers/dkim.sh`):
//! dkimpy and OpenDKIM, run in one batch over stored messages, with the
//! test keys' records given to them (no DNS).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Whether the verifiers are set up. Without them: a failure when `CI` is
/// set, else `false` (the test returns early).
pub fn available() -> bool {
    if std::env::var("POSTIE_TEST_DKIM_VERIFY").is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "POSTIE_TEST_DKIM_VERIFY is not set: scripts/servers.sh starts the DKIM verifiers, and CI must not skip"
    );
    eprintln!("skipping: POSTIE_TEST_DKIM_VERIFY is not set");
    false
}

/// The test keys' DNS records, by name (`SELECTOR._domainkey.DOMAIN`).
pub fn key_records() -> Value {
    let domain = var("POSTIE_TEST_DKIM_DOMAIN");
    let mut keys = serde_json::Map::new();
    for kind in ["RSA", "ED25519"] {
        let selector = var(&format!("POSTIE_TEST_DKIM_{kind}_SELECTOR"));
        keys.insert(
            format!("{selector}._domainkey.{domain}"),
            var(&format!("POSTIE_TEST_DKIM_{kind}_TXT")).into(),
        );
    }
    Value::Object(keys)
}

/// Both verifiers' verdicts on each of `messages`, in one batch (see
/// `dkim_verify.py` for the form of each).
pub fn verify(messages: &[PathBuf]) -> Vec<Value> {
    let keys = key_records();
    let batch: Vec<Value> = messages
        .iter()
        .map(|m| json!({"message": m, "keys": keys}))
        .collect();
    let file = std::env::temp_dir().join(format!(
        "postie-dkim-batch-{}-{}.json",
        std::process::id(),
        messages.len()
    ));
    std::fs::write(&file, serde_json::to_vec(&batch).unwrap()).unwrap();
    let command = var("POSTIE_TEST_DKIM_VERIFY");
    let mut words = command.split_whitespace();
    let out = Command::new(words.next().unwrap())
        .args(words)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Both verifiers passed every signature of the message.
pub fn both_pass(result: &Value) -> bool {
    result["dkimpy"]["ok"] == true && result["opendkim"]["ok"] == true
}

/// Both verifiers failed the message.
pub fn both_fail(result: &Value) -> bool {
    result["dkimpy"]["ok"] == false && result["opendkim"]["ok"] == false
}
