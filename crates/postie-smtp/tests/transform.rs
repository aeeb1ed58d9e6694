//! The message transform stage against the scripted server: it runs after
//! EHLO with the server's offers, once per message, in its order (signers
//! after postie's own rewrites), and what it leaves is exactly what goes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use postie_mime::{HeaderName, HeaderValue, Message};
use postie_smtp::transform::{MessageTransform, Order, Outgoing, ServerOffers};
use postie_smtp::{Cause, LocalEnv, SendOptions, Stage};
use postie_testkit::{Script, ScriptedServer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-12-06T10:00:00+00:00").unwrap(),
    }
}

/// A message holding 8-bit data, as a raw message read from a file may.
fn eight_bit_message() -> Message {
    let raw = "From: a@example.org\r\nTo: b@example.org\r\nSubject: Gr\u{fc}\u{df}e\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\
               Content-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n";
    Message::parse(raw.as_bytes()).unwrap()
}

fn options(port: u16) -> SendOptions {
    SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .timeout(Duration::from_secs(5))
}

/// A whole successful transaction to one recipient after `greet`.
fn accept(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go ahead\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued\r\n")
}

/// A signer stand-in: adds `X-Seen: <octets>` over the bytes it was
/// given, and records what it saw.
#[derive(Default)]
struct Seen {
    offers: Mutex<Vec<ServerOffers>>,
    bytes: Mutex<Vec<Vec<u8>>>,
}

struct Signer(Arc<Seen>);

impl MessageTransform for Signer {
    fn name(&self) -> &str {
        "signer"
    }

    fn order(&self) -> Order {
        Order::Sign
    }

    fn apply(&self, outgoing: &mut Outgoing<'_>, offers: &ServerOffers) -> Result<(), BoxError> {
        let mut bytes = Vec::new();
        outgoing.write_to(&mut bytes)?;
        let value = HeaderValue::new("X-Seen", &bytes.len().to_string())?;
        outgoing.prepend_field(HeaderName::new("X-Seen")?, value);
        self.0.offers.lock().unwrap().push(*offers);
        self.0.bytes.lock().unwrap().push(bytes);
        Ok(())
    }
}

/// A caller's rewrite: adds a field (added after the signer, it still runs
/// before it).
struct Tag;

impl MessageTransform for Tag {
    fn name(&self) -> &str {
        "tag"
    }

    fn apply(&self, outgoing: &mut Outgoing<'_>, _: &ServerOffers) -> Result<(), BoxError> {
        outgoing.prepend_field(HeaderName::new("X-Tag")?, HeaderValue::new("X-Tag", "1")?);
        Ok(())
    }
}

/// The data as received, without the terminator (nothing here is
/// dot-stuffed).
fn body(data: &[u8]) -> &[u8] {
    data.strip_suffix(b".\r\n").unwrap()
}

#[test]
fn a_signer_runs_last_and_sees_exactly_the_bytes_that_go() {
    let seen = Arc::new(Seen::default());
    // The caller adds the signer first: the order puts it after the
    // caller's rewrite and after postie's 7-bit rewrite.
    let opts = |port| {
        options(port)
            .transform(Arc::new(Signer(Arc::clone(&seen))))
            .transform(Arc::new(Tag))
    };
    let server = ScriptedServer::start(vec![
        accept(Script::new().greet(&["SIZE 100000"])).reply("221 bye\r\n")
    ]);
    common::send_with_env(&eight_bit_message(), &opts(server.port()), &env()).unwrap();
    let session = &server.finish()[0];
    let sent = body(&session.data[0]);
    let signed = seen.bytes.lock().unwrap().pop().unwrap();
    // What went is the X-Seen field, then exactly what the signer saw: the
    // tag on top of the 7-bit rewrite (the server lacks 8BITMIME).
    let field = format!("X-Seen: {}\r\n", signed.len());
    assert!(
        sent.starts_with(field.as_bytes()),
        "{}",
        String::from_utf8_lossy(sent)
    );
    assert_eq!(&sent[field.len()..], &signed[..]);
    assert!(signed.starts_with(b"X-Tag: 1\r\n"));
    assert!(sent.is_ascii(), "the 8-bit data went re-encoded");
    assert_eq!(
        *seen.offers.lock().unwrap(),
        [ServerOffers::new(false, false, false)]
    );
    // SIZE counts the signed message, not the one before the signature.
    let declared: usize = session.commands[1]
        .split(" SIZE=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(declared, sent.len());
}

#[test]
fn the_stage_runs_after_ehlo_on_each_message_with_that_servers_offers() {
    let seen = Arc::new(Seen::default());
    // The first server turns the client away at the greeting: the stage
    // runs only where MAIL will go, with that server's offers.
    let away = ScriptedServer::start(vec![Script::new().send("554 go away\r\n")]);
    let server = ScriptedServer::start(vec![accept(accept(
        Script::new().greet(&["8BITMIME", "SMTPUTF8"]),
    ))
    .reply("221 bye\r\n")]);
    let opts = SendOptions::new()
        .servers(["127.0.0.1", "127.0.0.1"])
        .ports([away.port(), server.port()])
        .recipients("b@example.org")
        .timeout(Duration::from_secs(5))
        .transform(Arc::new(Signer(Arc::clone(&seen))));
    let mut session = common::Session::new(opts, env());
    session.send(&eight_bit_message()).unwrap();
    session.send(&eight_bit_message()).unwrap();
    session.close();
    away.finish();
    let sessions = server.finish();
    let offers = seen.offers.lock().unwrap();
    assert_eq!(*offers, [ServerOffers::new(true, false, true); 2]);
    // 8BITMIME offered: no rewrite, the 8-bit data signed and sent as it is.
    let data = &sessions[0].data;
    assert_eq!(data.len(), 2);
    for (sent, signed) in data.iter().zip(seen.bytes.lock().unwrap().iter()) {
        assert!(body(sent).ends_with(signed));
        assert!(!signed.is_ascii());
    }
}

#[test]
fn a_failing_transform_fails_the_message_before_mail() {
    struct Broken(AtomicUsize);
    impl MessageTransform for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn order(&self) -> Order {
            Order::Sign
        }
        fn apply(&self, _: &mut Outgoing<'_>, _: &ServerOffers) -> Result<(), BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("the key file is unreadable".into())
        }
    }
    let broken = Arc::new(Broken(AtomicUsize::new(0)));
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["8BITMIME"])
        .reply("221 bye\r\n")]);
    let opts = options(server.port())
        .recipients("b@example.org")
        .transform(Arc::clone(&broken) as Arc<dyn MessageTransform>);
    let err = common::send_with_env(&eight_bit_message(), &opts, &env()).unwrap_err();
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::Mail);
    match failure.cause() {
        Cause::Transform(e) => assert_eq!(e.name(), "broken"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("the key file is unreadable"),
        "{err}"
    );
    assert!(!err.is_temporary());
    assert_eq!(broken.0.load(Ordering::SeqCst), 1);
    let text = server.finish()[0].text();
    assert!(!text.contains("MAIL"), "{text}");
}

/// A raw message whose header holds UTF-8 (RFC 6532).
fn utf8_header_message(from: &str) -> Message {
    let raw = format!(
        "From: {from}\r\nTo: b@example.org\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n\
         Message-ID: <1@example.org>\r\n\r\nplain body\r\n"
    );
    Message::parse(raw.as_bytes()).unwrap()
}

#[test]
fn a_utf8_header_needs_smtputf8_or_goes_rewritten_in_ascii() {
    let msg = utf8_header_message("J\u{f6}rg <j@b\u{fc}cher.example>");
    // Offered: declared (RFC 6531 §3.4), and the header goes as it is.
    let utf8 = ScriptedServer::start(vec![
        accept(Script::new().greet(&["SMTPUTF8", "8BITMIME"])).reply("221 bye\r\n")
    ]);
    let opts = |port| options(port).recipients("b@example.org");
    common::send_with_env(&msg, &opts(utf8.port()), &env()).unwrap();
    let session = &utf8.finish()[0];
    assert!(
        session.commands[1].ends_with(" SMTPUTF8"),
        "{}",
        session.commands[1]
    );
    let data = String::from_utf8(session.data[0].clone()).unwrap();
    assert!(
        data.contains("Subject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n"),
        "{data}"
    );

    // Not offered: the fields go in ASCII, and read back the same.
    let plain = ScriptedServer::start(vec![
        accept(Script::new().greet(&["8BITMIME"])).reply("221 bye\r\n")
    ]);
    common::send_with_env(&msg, &opts(plain.port()), &env()).unwrap();
    let session = &plain.finish()[0];
    assert!(
        !session.commands[1].contains("SMTPUTF8"),
        "{}",
        session.commands[1]
    );
    let sent = body(&session.data[0]);
    assert!(sent.is_ascii(), "{}", String::from_utf8_lossy(sent));
    let back = postie_mime::reader::parse(sent);
    use postie_mime::reader::PartExt;
    assert_eq!(
        back.message.header_text("Subject").unwrap(),
        "Gr\u{fc}\u{df}e aus K\u{f6}ln"
    );
    let from = back.message.header_text("From").unwrap();
    assert!(from.contains("j@xn--bcher-kva.example"), "{from}");
    assert!(from.starts_with("J\u{f6}rg"), "{from}");
    assert_eq!(
        back.message.header_text("Message-ID").unwrap(),
        "<1@example.org>"
    );

    // A local part that is not ASCII cannot be rewritten: a clear error
    // naming the field, and no MAIL.
    let refusing = ScriptedServer::start(vec![Script::new()
        .greet(&["8BITMIME"])
        .reply("221 bye\r\n")]);
    let msg = utf8_header_message("j\u{f6}rg@example.org");
    let err = common::send_with_env(&msg, &opts(refusing.port()), &env()).unwrap_err();
    assert!(
        matches!(err.server_error().unwrap().cause(), Cause::Transform(_)),
        "{err}"
    );
    assert!(err.to_string().contains("the From field"), "{err}");
    assert!(!refusing.finish()[0].text().contains("MAIL"));
}
