//! `postie demo`: the seed's example, sent through the real client stack to
//! a capture server inside this process.

use std::sync::Arc;
use std::thread;

use postie_mime::Message;
use postie_smtp::SendOptions;

use crate::exit;
use crate::sink::{Recorder, Sink};

pub(crate) fn run() -> u8 {
    let sink = match Sink::bind("127.0.0.1:0", None) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("postie demo: cannot start the capture server: {e}");
            return exit::OS_ERR;
        }
    };
    let port = match sink.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => {
            eprintln!("postie demo: {e}");
            return exit::OS_ERR;
        }
    };
    let recorder = Arc::new(Recorder::default());
    let server = {
        let recorder = Arc::clone(&recorder);
        thread::spawn(move || sink.serve_one(recorder.as_ref()))
    };

    println!("postie demo: a capture SMTP server is listening on 127.0.0.1:{port}.");
    println!("Sending the seed's example through postie's SMTP client:");
    println!("  send_simple_message someone@somewhere.com localhost \"This is the subject.\" \"This is the message.\"");
    println!();

    let mut message = Message::text("This is the message.");
    let result = message
        .headers_mut()
        .set("Subject", "This is the subject.")
        .map_err(|e| e.to_string())
        .and_then(|()| {
            let options = SendOptions::new()
                .recipients("someone@somewhere.com")
                .servers(["localhost"])
                .ports([port]);
            postie_smtp::send(&message, &options).map_err(|e| e.to_string())
        });
    let served = server.join();

    println!("--- the SMTP dialogue, as the server saw it ---");
    if let Ok(lines) = recorder.lines.lock() {
        for line in lines.iter() {
            println!("{line}");
        }
    }
    println!();
    println!("--- the message, as the server received it ---");
    if let Ok(messages) = recorder.messages.lock() {
        for received in messages.iter() {
            println!(
                "(envelope: MAIL FROM:<{}>, RCPT TO:{})",
                received.mail_from,
                received
                    .rcpt_to
                    .iter()
                    .map(|r| format!("<{r}>"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            print!(
                "{}",
                String::from_utf8_lossy(&received.data).replace("\r\n", "\n")
            );
        }
    }
    println!();
    println!("--- the result ---");
    match (result, served) {
        (Ok(sent), Ok(Ok(()))) => {
            println!(
                "sent: the server answered {} (queue id {})",
                sent.reply(),
                sent.queue_id().unwrap_or_default()
            );
            println!(
                "refused recipients: {}",
                if sent.refused().is_empty() {
                    "none".to_owned()
                } else {
                    crate::report::refusal_lines(sent.refused())
                }
            );
            exit::OK
        }
        (Err(e), _) => {
            println!("not sent: {e}");
            exit::SOFTWARE
        }
        (Ok(_), _) => {
            println!("the capture server failed");
            exit::SOFTWARE
        }
    }
}
