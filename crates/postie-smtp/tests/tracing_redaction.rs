//! The `tracing` output of a send: spans per stage, the dialogue as
//! events, and no secret anywhere. A test binary of its own: tracing caches
//! per call site whether anyone listens, and tests running in parallel
//! without a subscriber would make that answer "no".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::{Credentials, LocalEnv, Secret, SendOptions};
use postie_testkit::{Script, ScriptedServer};

const PASSWORD: &str = "s3cret-pass";

fn b64(bytes: &[u8]) -> String {
    encodify::base64::STANDARD.encode(bytes)
}

fn options(port: u16) -> SendOptions {
    SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
        .credentials(Credentials {
            username: "alice".to_owned(),
            secret: Secret::new(PASSWORD),
            authzid: None,
        })
}

fn send(options: &SendOptions) -> Result<postie_smtp::Sent, postie_smtp::Error> {
    let mut msg = Message::text("body");
    msg.headers_mut().set("Subject", "auth").unwrap();
    let env = LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    };
    common::send_with_env(&msg, options, &env)
}

fn transaction(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as A1\r\n")
        .reply("221 bye\r\n")
}

/// A tracing subscriber that keeps every event's fields as text.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = String::new();
        span.record(&mut Fields(&mut text));
        self.0.lock().unwrap().push(text);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = String::new();
        event.record(&mut Fields(&mut text));
        self.0.lock().unwrap().push(text);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn tracing_logs_the_dialogue_without_secrets() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH PLAIN"])
            .reply("235 2.7.0 ok\r\n"),
    )]);
    let opts = options(server.port());
    tracing::subscriber::with_default(Capture(Arc::clone(&events)), || {
        send(&opts).unwrap();
    });
    server.finish();
    let all = events.lock().unwrap().join("\n");
    assert!(all.contains("C: AUTH PLAIN [redacted]"), "{all}");
    assert!(
        all.contains("stage=\"auth\"") || all.contains("stage=auth"),
        "{all}"
    );
    let encoded = b64(format!("\0alice\0{PASSWORD}").as_bytes());
    assert!(
        !all.contains(PASSWORD) && !all.contains(&encoded),
        "secret in logs:\n{all}"
    );
}
