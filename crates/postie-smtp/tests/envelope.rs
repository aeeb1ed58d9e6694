//! sendmessage's envelope and header rules, one test per rule; each fails
//! if its rule is broken. No network: `prepare` is pure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::envelope::prepare;
use postie_smtp::{InvalidInput, LocalEnv, Prepared, SendOptions};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39-05:00").unwrap(),
    }
}

fn message(headers: &[(&str, &str)]) -> Message {
    let mut msg = Message::text("body");
    for (name, value) in headers {
        msg.headers_mut().append(name, value).unwrap();
    }
    msg
}

fn prep(msg: &Message, options: SendOptions) -> Prepared {
    prepare(msg, &options, &env()).unwrap()
}

fn field(p: &Prepared, name: &str) -> Vec<String> {
    p.headers()
        .get_all(name)
        .map(|v| v.as_text().into_owned())
        .collect()
}

fn wire(msg: &Message, p: &Prepared) -> String {
    let mut out = Vec::new();
    p.write_message(msg, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn default_originator_is_user_at_host_written_in_mail_and_from() {
    let msg = message(&[("Subject", "s")]);
    let p = prep(&msg, SendOptions::new().recipients("a@x.org"));
    assert_eq!(p.reverse_path(), "joe@client.test");
    assert_eq!(field(&p, "From"), ["joe@client.test"]);
}

#[test]
fn empty_originator_is_the_null_sender_and_adds_no_from() {
    let msg = message(&[]);
    let p = prep(
        &msg,
        SendOptions::new().recipients("a@x.org").originator(""),
    );
    assert_eq!(p.reverse_path(), "");
    assert!(field(&p, "From").is_empty());
    assert!(field(&p, "Sender").is_empty());
}

#[test]
fn header_option_from_is_the_originator() {
    let msg = message(&[("From", "Old <old@x.org>")]);
    let p = prep(
        &msg,
        SendOptions::new()
            .recipients("a@x.org")
            .header("From", "Sam <sam@x.org>"),
    );
    assert_eq!(p.reverse_path(), "sam@x.org");
    // Replaced, not duplicated.
    assert_eq!(field(&p, "From"), ["Sam <sam@x.org>"]);
}

#[test]
fn message_own_from_is_the_originator_when_no_option_names_one() {
    let msg = message(&[("From", "Fred <fred@x.org>"), ("To", "a@x.org")]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(p.reverse_path(), "fred@x.org");
    assert_eq!(field(&p, "From"), ["Fred <fred@x.org>"]);
    assert!(field(&p, "Sender").is_empty());
}

#[test]
fn sender_names_the_originator_only_when_it_differs_from_from() {
    let msg = message(&[("From", "Fred <fred@x.org>"), ("To", "a@x.org")]);
    let p = prep(&msg, SendOptions::new().originator("Sam <sam@x.org>"));
    assert_eq!(p.reverse_path(), "sam@x.org");
    assert_eq!(field(&p, "Sender"), ["Sam <sam@x.org>"]);
    assert_eq!(field(&p, "From"), ["Fred <fred@x.org>"]);

    let same = prep(&msg, SendOptions::new().originator("fred@X.ORG"));
    assert!(field(&same, "Sender").is_empty(), "same address: no Sender");
}

#[test]
fn several_from_mailboxes_need_a_sender() {
    let msg = message(&[("From", "a@x.org, b@x.org"), ("To", "c@x.org")]);
    let err = prepare(&msg, &SendOptions::new(), &env()).unwrap_err();
    assert!(
        matches!(err, InvalidInput::TooManyOriginators { .. }),
        "{err}"
    );
    let msg = message(&[
        ("From", "a@x.org, b@x.org"),
        ("Sender", "b@x.org"),
        ("To", "c@x.org"),
    ]);
    assert_eq!(prep(&msg, SendOptions::new()).reverse_path(), "b@x.org");
}

#[test]
fn recipients_option_is_exactly_the_envelope() {
    let msg = message(&[("To", "ignored@x.org"), ("Cc", "also-ignored@x.org")]);
    let p = prep(
        &msg,
        SendOptions::new().recipients("a@x.org, Bob <b@x.org>, root"),
    );
    assert_eq!(p.recipients(), ["a@x.org", "b@x.org", "root@client.test"]);
    // The message's own To and Cc are still transmitted.
    assert_eq!(field(&p, "To"), ["ignored@x.org"]);
}

#[test]
fn header_options_to_cc_bcc_come_before_the_message_headers() {
    let msg = message(&[("To", "msg@x.org")]);
    let p = prep(
        &msg,
        SendOptions::new()
            .header("To", "a@x.org")
            .header("Cc", "c@x.org")
            .header("Bcc", "hidden@x.org"),
    );
    assert_eq!(p.recipients(), ["a@x.org", "c@x.org", "hidden@x.org"]);
    assert_eq!(field(&p, "To"), ["a@x.org"]);
}

#[test]
fn a_header_option_replaces_only_its_own_field() {
    // --header Bcc must not drop the message's own To recipients.
    let msg = message(&[("To", "team@x.org"), ("Cc", "cc@x.org")]);
    let p = prep(&msg, SendOptions::new().header("Bcc", "boss@x.org"));
    assert_eq!(p.recipients(), ["team@x.org", "cc@x.org", "boss@x.org"]);
    let p = prep(&msg, SendOptions::new().header("Cc", "other@x.org"));
    assert_eq!(p.recipients(), ["team@x.org", "other@x.org"]);
}

#[test]
fn a_from_without_domain_gets_none_and_no_spurious_sender() {
    let msg = message(&[("From", "root"), ("To", "a@x.org")]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(p.reverse_path(), "root@client.test");
    assert!(field(&p, "Sender").is_empty());
}

#[test]
fn resent_mode_falls_back_to_the_messages_own_resent_from() {
    let msg = message(&[("Resent-From", "earlier@x.org"), ("From", "orig@x.org")]);
    let p = prep(&msg, SendOptions::new().header("Resent-To", "next@x.org"));
    assert_eq!(p.reverse_path(), "earlier@x.org");
    assert_eq!(p.recipients(), ["next@x.org"]);
    // The new block carries its own Resent-From, on top.
    let first = p.headers().iter().next().unwrap();
    assert_eq!(first.name().as_str(), "Resent-To");
    assert_eq!(field(&p, "Resent-From"), ["earlier@x.org", "earlier@x.org"]);
}

#[test]
fn message_to_cc_bcc_are_the_default_and_duplicates_go_once() {
    let msg = message(&[
        ("To", "a@x.org, group: g1@x.org, g2@x.org;"),
        ("Cc", "a@X.ORG"),
        ("Bcc", "secret@x.org"),
    ]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(
        p.recipients(),
        ["a@x.org", "g1@x.org", "g2@x.org", "secret@x.org"]
    );
}

#[test]
fn bcc_is_stripped_from_what_is_sent_in_every_mode() {
    let msg = message(&[("To", "a@x.org"), ("Bcc", "secret@x.org")]);
    let p = prep(&msg, SendOptions::new().header("Bcc", "other@x.org"));
    assert!(p.recipients().contains(&"other@x.org".to_owned()));
    let text = wire(&msg, &p);
    assert!(!text.to_ascii_lowercase().contains("bcc"), "{text}");
    assert!(!text.contains("secret@x.org") && !text.contains("other@x.org"));

    // With explicit recipients the Bcc header is still not sent.
    let p = prep(&msg, SendOptions::new().recipients("a@x.org"));
    assert!(!wire(&msg, &p).contains("secret@x.org"));
}

#[test]
fn single_instance_header_options_replace_others_append() {
    let msg = message(&[("Subject", "old"), ("To", "a@x.org"), ("X-Tag", "one")]);
    let p = prep(
        &msg,
        SendOptions::new()
            .header("Subject", "new")
            .header("X-Tag", "two"),
    );
    assert_eq!(field(&p, "Subject"), ["new"]);
    assert_eq!(field(&p, "X-Tag"), ["one", "two"]);
    let err = prepare(
        &msg,
        &SendOptions::new()
            .header("Subject", "a")
            .header("Subject", "b"),
        &env(),
    )
    .unwrap_err();
    assert!(matches!(err, InvalidInput::RepeatedHeader(_)));
}

#[test]
fn date_and_message_id_are_added_only_when_missing() {
    let msg = message(&[("To", "a@x.org")]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(field(&p, "Date"), ["Sat, 28 Nov 2026 18:41:39 -0500"]);
    let id = &field(&p, "Message-ID")[0];
    assert!(id.starts_with('<') && id.ends_with("@client.test>"), "{id}");

    let msg = message(&[
        ("To", "a@x.org"),
        ("Date", "Mon, 1 Jan 2024 00:00:00 +0000"),
        ("Message-ID", "<x@y>"),
    ]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(field(&p, "Date"), ["Mon, 1 Jan 2024 00:00:00 +0000"]);
    assert_eq!(field(&p, "Message-ID"), ["<x@y>"]);
}

#[test]
fn added_fields_follow_header_options_in_tcllib_order() {
    let msg = message(&[]);
    let p = prep(
        &msg,
        SendOptions::new()
            .header("X-First", "1")
            .header("To", "a@x.org")
            .originator("Sam <sam@x.org>"),
    );
    let names: Vec<String> = p.headers().iter().map(|h| h.name().to_string()).collect();
    assert_eq!(names, ["X-First", "To", "From", "Date", "Message-ID"]);
}

#[test]
fn resent_mode_uses_resent_fields_and_puts_them_on_top() {
    let msg = message(&[
        ("From", "orig@x.org"),
        ("To", "first@x.org"),
        ("Date", "Mon, 1 Jan 2024 00:00:00 +0000"),
        ("Message-ID", "<orig@x.org>"),
    ]);
    let p = prep(
        &msg,
        SendOptions::new()
            .header("Resent-From", "fwd@x.org")
            .header("Resent-To", "second@x.org"),
    );
    assert_eq!(p.reverse_path(), "fwd@x.org");
    assert_eq!(p.recipients(), ["second@x.org"]);
    let names: Vec<String> = p.headers().iter().map(|h| h.name().to_string()).collect();
    assert_eq!(
        names[..4],
        [
            "Resent-From",
            "Resent-To",
            "Resent-Date",
            "Resent-Message-ID"
        ]
    );
    // The original's own fields are untouched.
    assert_eq!(field(&p, "Message-ID"), ["<orig@x.org>"]);
    assert_eq!(field(&p, "From"), ["orig@x.org"]);
}

#[test]
fn reserved_and_injected_header_options_are_refused() {
    let msg = message(&[("To", "a@x.org")]);
    for (name, value) in [
        ("MIME-Version", "1.0"),
        ("content-type", "text/html"),
        ("Subject", "a\nb"),
        ("Subject", "a\rb"),
        ("Bad Name", "x"),
    ] {
        assert!(
            prepare(&msg, &SendOptions::new().header(name, value), &env()).is_err(),
            "{name}: {value:?}"
        );
    }
}

#[test]
fn unparseable_addresses_name_themselves() {
    let msg = message(&[]);
    let err = prepare(
        &msg,
        &SendOptions::new().recipients("a@x.org b@x.org"),
        &env(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("recipients") && text.contains("a@x.org b@x.org"),
        "{text}"
    );
    let err = prepare(
        &msg,
        &SendOptions::new()
            .recipients("ok@x.org")
            .originator("bad@@x"),
        &env(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bad@@x"), "{err}");
}

#[test]
fn zero_recipients_is_an_error() {
    let msg = message(&[("Subject", "s")]);
    for options in [
        SendOptions::new(),
        SendOptions::new().recipients(","),
        SendOptions::new().recipients("undisclosed-recipients:;"),
    ] {
        assert!(matches!(
            prepare(&msg, &options, &env()),
            Err(InvalidInput::NoRecipients)
        ));
    }
}

#[test]
fn the_callers_message_is_never_modified() {
    let msg = message(&[("To", "a@x.org"), ("Bcc", "b@x.org")]);
    let before = msg.to_bytes().unwrap();
    let _ = prep(
        &msg,
        SendOptions::new()
            .header("X-Tag", "t")
            .header("Subject", "s"),
    );
    let _ = prep(&msg, SendOptions::new());
    assert_eq!(msg.to_bytes().unwrap(), before);
}

#[test]
fn client_name_defaults_like_tcllib() {
    let msg = message(&[("To", "a@x.org")]);
    assert_eq!(prep(&msg, SendOptions::new()).client(), "localhost");
    assert_eq!(
        prep(&msg, SendOptions::new().servers(["localhost", "127.0.0.1"])).client(),
        "client.test"
    );
    assert_eq!(
        prep(&msg, SendOptions::new().client("me.example")).client(),
        "me.example"
    );
}

#[test]
fn servers_and_ports_pair_one_to_one() {
    let options = SendOptions::new()
        .servers(["a", "", "b", "c"])
        .ports([2525, 1, 26]);
    let list: Vec<String> = options
        .server_list()
        .iter()
        .map(ToString::to_string)
        .collect();
    // The empty server is skipped with its port; "c" has no port: 25.
    assert_eq!(list, ["a:2525", "b:26", "c:25"]);
}

#[test]
fn non_ascii_header_text_is_encoded_on_the_wire() {
    let msg = message(&[("To", "a@x.org")]);
    let p = prep(&msg, SendOptions::new().header("Subject", "Grüße"));
    let text = wire(&msg, &p);
    assert!(text.contains("Subject: =?utf-8?"), "{text}");
    assert!(text.is_ascii());
}

#[test]
fn a_message_that_starts_with_a_resent_block_is_sent_as_that_block_says() {
    let msg = message(&[
        ("Received", "from a by b; Mon, 1 Jan 2024 00:00:00 +0000"),
        ("Resent-From", "fwd@x.org"),
        ("Resent-To", "second@x.org"),
        ("Resent-Bcc", "hidden@x.org"),
        ("Resent-Date", "Tue, 2 Jan 2024 00:00:00 +0000"),
        ("From", "orig@x.org"),
        ("To", "first@x.org"),
        ("Date", "Mon, 1 Jan 2024 00:00:00 +0000"),
        ("Message-ID", "<orig@x.org>"),
    ]);
    let p = prep(&msg, SendOptions::new());
    assert_eq!(p.reverse_path(), "fwd@x.org");
    assert_eq!(p.recipients(), ["second@x.org", "hidden@x.org"]);
    // The block stays where it was, under the trace field, completed with
    // its own Resent-Message-ID; no Resent-Bcc goes.
    let names: Vec<String> = p.headers().iter().map(|h| h.name().to_string()).collect();
    assert_eq!(
        names,
        [
            "Received",
            "Resent-From",
            "Resent-To",
            "Resent-Date",
            "Resent-Message-ID",
            "From",
            "To",
            "Date",
            "Message-ID"
        ]
    );
    assert_eq!(field(&p, "Resent-Date"), ["Tue, 2 Jan 2024 00:00:00 +0000"]);
    // A Resent block further down is an old one: the normal fields count.
    let old = message(&[
        ("From", "orig@x.org"),
        ("To", "first@x.org"),
        ("Resent-From", "fwd@x.org"),
        ("Resent-To", "second@x.org"),
    ]);
    let p = prep(&old, SendOptions::new());
    assert_eq!(p.recipients(), ["first@x.org"]);
    assert_eq!(p.reverse_path(), "orig@x.org");
    // A header option for a normal field chooses the normal mode.
    let p = prep(&msg, SendOptions::new().header("To", "other@x.org"));
    assert_eq!(p.recipients(), ["other@x.org"]);
    assert_eq!(p.reverse_path(), "orig@x.org");
    // --recipients replaces only the recipients.
    let p = prep(&msg, SendOptions::new().recipients("third@x.org"));
    assert_eq!(
        (p.reverse_path().as_str(), p.recipients()),
        ("fwd@x.org", vec!["third@x.org".to_owned()])
    );
}
