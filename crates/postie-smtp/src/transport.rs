//! One interface for everything that takes messages, so that an
//! application's own tests can swap SMTP for a folder or for memory.
//!
//! [`Transport`] is implemented by [`crate::blocking::Pool`] (SMTP),
//! [`FileTransport`] (each message and its envelope written to a folder)
//! and [`StubTransport`] (each message recorded in memory, accepted or
//! refused as told). [`AsyncTransport`] is the same for async code (feature
//! `tokio`, implemented by [`crate::async_tokio::Pool`] and by the two
//! test transports).
//!
//! The test transports derive the envelope and the fields to send exactly
//! as an SMTP send does ([`crate::envelope::prepare`]): Bcc removed, Date
//! and Message-ID added, the originator and recipients from the options or
//! the message; what they record is what the server would have received.
//!
//! ```
//! use postie_mime::Message;
//! use postie_smtp::transport::{StubTransport, Transport};
//! use postie_smtp::SendOptions;
//!
//! fn notify(mailer: &impl Transport) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut msg = Message::text("Your build passed.");
//!     msg.headers_mut().set("To", "dev@example.org")?;
//!     msg.headers_mut().set("Bcc", "audit@example.org")?;
//!     mailer.send(&msg)?;
//!     Ok(())
//! }
//!
//! let stub = StubTransport::new(SendOptions::new().originator("ci@example.org"));
//! notify(&stub)?;
//! let sent = stub.messages();
//! assert_eq!(sent[0].recipients, ["dev@example.org", "audit@example.org"]);
//! assert!(!String::from_utf8_lossy(&sent[0].data).contains("audit@"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use postie_mime::Message;

use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::{Cause, Error, InvalidInput, ServerError, Stage};
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::reply::{EnhancedCode, Reply};
use crate::server::ServerAddr;

/// Takes a message and reports what became of it, as [`crate::send`]
/// does.
pub trait Transport {
    /// Sends `message`; `Ok` only once it was taken.
    fn send(&self, message: &Message) -> Result<Sent, Error>;
}

impl Transport for crate::blocking::Pool {
    fn send(&self, message: &Message) -> Result<Sent, Error> {
        crate::blocking::Pool::send(self, message)
    }
}

/// [`Transport`] for async code.
#[cfg(feature = "tokio")]
pub trait AsyncTransport {
    /// Sends `message`; `Ok` only once it was taken.
    fn send(
        &self,
        message: &Message,
    ) -> impl std::future::Future<Output = Result<Sent, Error>> + Send;
}

#[cfg(feature = "tokio")]
impl AsyncTransport for crate::async_tokio::Pool {
    fn send(
        &self,
        message: &Message,
    ) -> impl std::future::Future<Output = Result<Sent, Error>> + Send {
        crate::async_tokio::Pool::send(self, message)
    }
}

/// A message as a transport received it: the envelope and the bytes a
/// server would have been sent (before dot-stuffing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// MAIL FROM (empty for the null reverse-path).
    pub reverse_path: String,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// The message as written: CRLF line ends, Bcc removed, Date and
    /// Message-ID added.
    pub data: Vec<u8>,
}

/// Writes each message to a folder: `<name>.eml` (the message as it would
/// go to a server) and `<name>.json` (`{"from": ..., "to": [...]}`), each
/// written under a temporary name and renamed, so a reader never sees half
/// a message. The message is streamed to the file, never held whole.
#[derive(Debug)]
pub struct FileTransport {
    dir: PathBuf,
    options: SendOptions,
    env: Option<LocalEnv>,
}

impl FileTransport {
    /// Writes into `dir` (which must exist); the envelope comes from
    /// `options` and the message, as for an SMTP send.
    pub fn new(dir: impl Into<PathBuf>, options: SendOptions) -> Self {
        Self {
            dir: dir.into(),
            options,
            env: None,
        }
    }

    /// The host name, user and time to use rather than the system's.
    pub fn env(mut self, env: LocalEnv) -> Self {
        self.env = Some(env);
        self
    }

    fn write(&self, message: &Message) -> Result<Sent, Error> {
        let env = self.env.clone().unwrap_or_else(LocalEnv::from_system);
        let prepared = envelope::prepare(message, &self.options, &env)?;
        let name = unique_name();
        let eml = self.dir.join(format!("{name}.eml"));
        let json = self.dir.join(format!("{name}.json"));
        let server = ServerAddr {
            host: self.dir.display().to_string(),
            port: 0,
        };
        let failed = |e: std::io::Error| {
            Error::Transaction(ServerError::new(server.clone(), Stage::Data, Cause::Io(e)))
        };
        write_atomically(&eml, |w| {
            prepared
                .write_message(message, w)
                .map_err(crate::setup::mime_io)
        })
        .map_err(failed)?;
        let envelope = envelope_json(&prepared);
        write_atomically(&json, |w| w.write_all(envelope.as_bytes())).map_err(failed)?;
        Ok(local_sent(
            server,
            format!("written to {}", eml.display()),
            &prepared,
        ))
    }
}

impl Transport for FileTransport {
    fn send(&self, message: &Message) -> Result<Sent, Error> {
        self.write(message)
    }
}

#[cfg(feature = "tokio")]
impl AsyncTransport for FileTransport {
    fn send(
        &self,
        message: &Message,
    ) -> impl std::future::Future<Output = Result<Sent, Error>> + Send {
        std::future::ready(self.write(message))
    }
}

/// What [`StubTransport`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Accept,
    Refuse(Reply),
}

/// Records each message in memory and accepts it (or refuses it with a
/// given reply), for an application's own tests.
#[derive(Debug)]
pub struct StubTransport {
    options: SendOptions,
    env: Option<LocalEnv>,
    answer: Answer,
    recorded: Mutex<Vec<Recorded>>,
}

impl StubTransport {
    /// A stub that accepts every message.
    pub fn new(options: SendOptions) -> Self {
        Self {
            options,
            env: None,
            answer: Answer::Accept,
            recorded: Mutex::new(Vec::new()),
        }
    }

    /// Refuses every message at the end of data with `code` and `text`
    /// (still recording it), as a server's error would be reported.
    pub fn refusing(mut self, code: u16, text: &str) -> Self {
        self.answer = Answer::Refuse(Reply::new(code, None, vec![text.to_owned()]));
        self
    }

    /// The host name, user and time to use rather than the system's.
    pub fn env(mut self, env: LocalEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// What was sent so far, in order.
    pub fn messages(&self) -> Vec<Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, message: &Message) -> Result<Sent, Error> {
        let env = self.env.clone().unwrap_or_else(LocalEnv::from_system);
        let prepared = envelope::prepare(message, &self.options, &env)?;
        let mut data = Vec::new();
        prepared
            .write_message(message, &mut data)
            .map_err(InvalidInput::Message)?;
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Recorded {
                reverse_path: prepared.reverse_path(),
                recipients: prepared.recipients(),
                data,
            });
        let server = ServerAddr {
            host: "stub".to_owned(),
            port: 0,
        };
        match &self.answer {
            Answer::Accept => Ok(local_sent(server, "recorded".to_owned(), &prepared)),
            Answer::Refuse(reply) => Err(Error::Transaction(ServerError::new(
                server,
                Stage::EndOfData,
                Cause::Reply(reply.clone()),
            ))),
        }
    }
}

impl Transport for StubTransport {
    fn send(&self, message: &Message) -> Result<Sent, Error> {
        self.record(message)
    }
}

#[cfg(feature = "tokio")]
impl AsyncTransport for StubTransport {
    fn send(
        &self,
        message: &Message,
    ) -> impl std::future::Future<Output = Result<Sent, Error>> + Send {
        std::future::ready(self.record(message))
    }
}

fn local_sent(server: ServerAddr, text: String, prepared: &Prepared) -> Sent {
    Sent {
        server,
        reply: Reply::new(
            250,
            Some(EnhancedCode {
                class: 2,
                subject: 0,
                detail: 0,
            }),
            vec![text],
        ),
        refused: Vec::new(),
        accepted: prepared.recipients(),
        tls: None,
        auth: None,
        dsn: false,
    }
}

/// A name no other message of this process or another will get: time,
/// process, counter.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos}-{}-{count}", std::process::id())
}

fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        fill(&mut file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn envelope_json(prepared: &Prepared) -> String {
    let to: Vec<String> = prepared
        .recipients()
        .iter()
        .map(|r| json_string(r))
        .collect();
    format!(
        "{{\"from\": {}, \"to\": [{}]}}\n",
        json_string(&prepared.reverse_path()),
        to.join(", ")
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> LocalEnv {
        LocalEnv {
            hostname: "client.test".to_owned(),
            user: "joe".to_owned(),
            now: chrono::DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
        }
    }

    fn message() -> Message {
        let mut msg = Message::text("hello\n");
        msg.headers_mut()
            .set("To", "Ann <ann@example.org>")
            .unwrap();
        msg.headers_mut()
            .set("Bcc", "\"odd\\\"one\"@example.org")
            .unwrap();
        msg
    }

    #[test]
    fn the_file_transport_writes_the_message_and_its_envelope() {
        let dir =
            std::env::temp_dir().join(format!("postie-file-transport-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let transport = FileTransport::new(&dir, SendOptions::new()).env(env());
        let sent = Transport::send(&transport, &message()).unwrap();
        assert_eq!(sent.reply().code(), 250);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        let eml = std::fs::read_to_string(dir.join(&names[0])).unwrap();
        let json = std::fs::read_to_string(dir.join(&names[1])).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(eml.contains("To: Ann <ann@example.org>\r\n"));
        assert!(!eml.contains("Bcc"), "{eml}");
        assert!(eml.contains("Message-ID: <"));
        assert_eq!(
            json,
            "{\"from\": \"joe@client.test\", \"to\": [\"ann@example.org\", \"\\\"odd\\\\\\\"one\\\"@example.org\"]}\n"
        );
    }

    #[test]
    fn the_stub_records_and_refuses_when_told() {
        let stub = StubTransport::new(SendOptions::new())
            .env(env())
            .refusing(554, "5.7.1 rejected for the test");
        let err = Transport::send(&stub, &message()).unwrap_err();
        assert!(err.to_string().contains("554"), "{err}");
        let recorded = stub.messages();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].reverse_path, "joe@client.test");
        assert_eq!(recorded[0].recipients.len(), 2);
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_recorded() {
        let stub = StubTransport::new(SendOptions::new()).env(env());
        let err = Transport::send(&stub, &Message::text("no recipients")).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        assert!(stub.messages().is_empty());
    }
}
