//! `source_ip` (msmtp's, `--source-ip`) on the driver under test: where
//! the connection comes from, and the errors of an address this host does
//! not have or of the wrong family.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use postie_mime::Message;
use postie_smtp::SendOptions;

fn message(n: usize) -> Message {
    let mut msg = Message::text(format!("message {n}\n"));
    msg.headers_mut().set("To", "a@example.org").unwrap();
    msg
}

/// `source_ip`: the connection comes from the address asked for (any of
/// 127/8 is this host's on Linux), an address this host does not have is
/// an error naming it, and a server with no address of the source's family
/// is one too.
#[test]
fn connections_come_from_the_source_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        use std::io::Write as _;
        let _ = stream.write_all(b"421 4.3.2 closing\r\n");
        peer
    });
    let source: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let options = SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
        .source_ip(source);
    // The server says 421: what counts is where the connection came from.
    let _ = common::send(&message(1), &options);
    assert_eq!(peer.join().unwrap().ip(), source);

    let err = common::send(
        &message(2),
        &options.clone().source_ip("192.0.2.1".parse().unwrap()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot connect from the source address 192.0.2.1"),
        "{err}"
    );

    let err = common::send(&message(3), &options.source_ip("::1".parse().unwrap()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no IPv6 address"), "{err}");
}
