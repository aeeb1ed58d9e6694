//! A small capture SMTP server: it accepts every message and keeps it, for
//! people testing their own code (as `python -m aiosmtpd -n` or Mailpit are
//! used) and for `postie demo`. It is a development tool, not an MTA: it
//! delivers nothing.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest message taken; larger ones are read and refused with 552.
const MAX_MESSAGE: usize = 50 * 1024 * 1024;
/// Longest command line (RFC 5321 §4.5.3.1.4 says 512; be generous).
const MAX_LINE: usize = 4096;
/// A client silent this long is dropped.
const IDLE: Duration = Duration::from_secs(300);

/// A message the sink took.
#[derive(Clone, Debug, Default)]
pub(crate) struct Received {
    /// The MAIL FROM address.
    pub(crate) mail_from: String,
    /// The RCPT TO addresses.
    pub(crate) rcpt_to: Vec<String>,
    /// The message, dot-stuffing removed.
    pub(crate) data: Vec<u8>,
}

/// Where the sink reports: dialogue lines and received messages.
pub(crate) trait Observer: Send + Sync {
    /// One line of the dialogue, `C: ...` or `S: ...`.
    fn line(&self, peer: SocketAddr, line: &str);
    /// A message was taken.
    fn message(&self, peer: SocketAddr, message: &Received, id: u64);
}

/// The capture server.
pub(crate) struct Sink {
    listener: TcpListener,
    maildir: Option<PathBuf>,
    counter: Arc<AtomicU64>,
}

impl Sink {
    /// Listens on `addr`.
    pub(crate) fn bind(addr: &str, maildir: Option<PathBuf>) -> io::Result<Self> {
        if let Some(dir) = &maildir {
            for sub in ["tmp", "new", "cur"] {
                fs::create_dir_all(dir.join(sub))?;
            }
        }
        Ok(Self {
            listener: TcpListener::bind(addr)?,
            maildir,
            counter: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where it listens.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections, one thread each, until the process ends.
    pub(crate) fn serve_forever(&self, observer: Arc<dyn Observer>) -> io::Result<()> {
        for stream in self.listener.incoming() {
            let stream = stream?;
            let observer = Arc::clone(&observer);
            let maildir = self.maildir.clone();
            let counter = Arc::clone(&self.counter);
            thread::spawn(move || {
                let _ = session(stream, maildir.as_deref(), &counter, observer.as_ref());
            });
        }
        Ok(())
    }

    /// Serves exactly one connection, on this thread.
    pub(crate) fn serve_one(&self, observer: &dyn Observer) -> io::Result<()> {
        let (stream, _) = self.listener.accept()?;
        session(stream, self.maildir.as_deref(), &self.counter, observer)
    }
}

/// Keeps everything in memory: for `postie demo` and tests.
#[derive(Default)]
pub(crate) struct Recorder {
    /// The dialogue, in order.
    pub(crate) lines: Mutex<Vec<String>>,
    /// The messages, in order.
    pub(crate) messages: Mutex<Vec<Received>>,
}

impl Observer for Recorder {
    fn line(&self, _peer: SocketAddr, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line.to_owned());
        }
    }

    fn message(&self, _peer: SocketAddr, message: &Received, _id: u64) {
        if let Ok(mut messages) = self.messages.lock() {
            messages.push(message.clone());
        }
    }
}

struct Conn<'a> {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
    observer: &'a dyn Observer,
}

impl Conn<'_> {
    fn reply(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            self.observer.line(self.peer, &format!("S: {line}"));
        }
        self.writer.write_all(text.as_bytes())?;
        self.writer.flush()
    }

    /// One line without its line ending; `None` at end of stream.
    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") && line.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        let end = line.len() - usize::from(line.ends_with(b"\n"));
        line.truncate(end);
        if line.ends_with(b"\r") {
            line.pop();
        }
        Ok(Some(line))
    }
}

fn session(
    stream: TcpStream,
    maildir: Option<&Path>,
    counter: &AtomicU64,
    observer: &dyn Observer,
) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_read_timeout(Some(IDLE))?;
    let mut conn = Conn {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
        peer,
        observer,
    };
    conn.reply("220 postie.sink ESMTP postie capture sink\r\n")?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    while let Some(line) = conn.read_line()? {
        let text = String::from_utf8_lossy(&line).into_owned();
        observer.line(peer, &format!("C: {text}"));
        let (verb, arg) = match text.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim().to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        match verb.as_str() {
            "EHLO" if !arg.is_empty() => {
                mail_from = None;
                rcpt_to.clear();
                conn.reply(&format!(
                    "250-postie.sink greets {arg}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE {MAX_MESSAGE}\r\n250 ENHANCEDSTATUSCODES\r\n"
                ))?;
            }
            "HELO" if !arg.is_empty() => {
                mail_from = None;
                rcpt_to.clear();
                conn.reply("250 postie.sink\r\n")?;
            }
            "EHLO" | "HELO" => conn.reply("501 5.5.4 Syntax: EHLO hostname\r\n")?,
            "MAIL" => match path_arg(&arg, "FROM:") {
                _ if mail_from.is_some() => {
                    conn.reply("503 5.5.1 Error: nested MAIL command\r\n")?
                }
                Some(path) => {
                    mail_from = Some(path);
                    conn.reply("250 2.1.0 Ok\r\n")?;
                }
                None => conn.reply("501 5.5.4 Syntax: MAIL FROM:<address>\r\n")?,
            },
            "RCPT" => match path_arg(&arg, "TO:") {
                _ if mail_from.is_none() => conn.reply("503 5.5.1 Error: need MAIL command\r\n")?,
                Some(path) if !path.is_empty() => {
                    rcpt_to.push(path);
                    conn.reply("250 2.1.5 Ok\r\n")?;
                }
                _ => conn.reply("501 5.5.4 Syntax: RCPT TO:<address>\r\n")?,
            },
            "DATA" if rcpt_to.is_empty() => conn.reply("503 5.5.1 Error: need RCPT command\r\n")?,
            "DATA" => {
                conn.reply("354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let Some(data) = read_data(&mut conn)? else {
                    return Ok(());
                };
                let Some(data) = data else {
                    conn.reply("552 5.3.4 Message too big for this sink\r\n")?;
                    mail_from = None;
                    rcpt_to.clear();
                    continue;
                };
                let id = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let message = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                if let Some(dir) = maildir {
                    store(dir, &message, id)?;
                }
                observer.message(peer, &message, id);
                conn.reply(&format!("250 2.0.0 Ok: queued as {id}\r\n"))?;
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                conn.reply("250 2.0.0 Ok\r\n")?;
            }
            "NOOP" => conn.reply("250 2.0.0 Ok\r\n")?,
            "VRFY" => conn.reply("252 2.0.0 Cannot verify, but will accept\r\n")?,
            "QUIT" => {
                conn.reply("221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => conn.reply("502 5.5.2 Error: command not recognized\r\n")?,
        }
    }
    Ok(())
}

/// The address inside `<...>` after `keyword` (any case), parameters
/// ignored.
fn path_arg(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg.get(keyword.len()..)?.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner.get(..end)?.to_owned())
}

/// The data up to the lone `.`, unstuffed. `None` when the client left;
/// `Some(None)` when the message was too large (it is read and dropped).
fn read_data(conn: &mut Conn<'_>) -> io::Result<Option<Option<Vec<u8>>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let mut line = Vec::new();
        // Bounded: a line that never ends cannot exhaust memory.
        let n = (&mut conn.reader)
            .take(MAX_MESSAGE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        // Only CRLF . CRLF ends the data: accepting a bare-LF form is the
        // ambiguity SMTP smuggling exploits.
        if line == b".\r\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > MAX_MESSAGE {
            too_big = true;
        }
        if !too_big {
            data.extend_from_slice(line);
        }
    }
    let shown = data.len();
    conn.observer
        .line(conn.peer, &format!("C: <{shown} bytes of message data>"));
    conn.observer.line(conn.peer, "C: .");
    Ok(Some((!too_big).then_some(data)))
}

/// Writes a Maildir message: to `tmp`, then renamed into `new`. Maildir
/// files end their lines in LF, as mail readers (mutt, Dovecot) expect: the
/// CRLF of the wire is turned into LF (a bare CR stays).
fn store(dir: &Path, message: &Received, id: u64) -> io::Result<()> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = format!("{secs}.{}_{id}.postie-sink", std::process::id());
    let tmp = dir.join("tmp").join(&name);
    let mut file = fs::File::create(&tmp)?;
    writeln!(file, "Return-Path: <{}>", message.mail_from)?;
    let rcpts: Vec<String> = message.rcpt_to.iter().map(|r| format!("<{r}>")).collect();
    writeln!(file, "X-Postie-Envelope-To: {}", rcpts.join(", "))?;
    file.write_all(&crlf_to_lf(&message.data))?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join("new").join(&name))
}

/// `data` with each CRLF turned into LF.
fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_lines_end_in_lf() {
        assert_eq!(crlf_to_lf(b"a\r\nb\r\n\r\nc"), b"a\nb\n\nc");
        assert_eq!(crlf_to_lf(b"bare\rcr\r\n"), b"bare\rcr\n");
        assert_eq!(crlf_to_lf(b""), b"");
    }

    #[test]
    fn path_arguments() {
        assert_eq!(path_arg("FROM:<a@b> SIZE=10", "FROM:"), Some("a@b".into()));
        assert_eq!(path_arg("from: <>", "FROM:"), Some(String::new()));
        assert_eq!(path_arg("TO:a@b", "TO:"), None);
    }
}
