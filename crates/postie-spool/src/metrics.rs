//! A relayer's metrics in Prometheus' text format, served over HTTP on a
//! loopback address (`postie spool run --metrics 127.0.0.1:9108`): what
//! this relayer did (counters) and what the spool holds (the numbers of
//! `postie spool stats`, refreshed by the relayer between batches, so the
//! endpoint never touches the store itself).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::stats::Stats;

/// What a relayer counts, shared with the endpoint's thread.
#[derive(Default)]
pub struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) kept: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) damaged: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    /// The spool's numbers as last read.
    pub(crate) spool: Mutex<Option<Stats>>,
}

impl Counters {
    /// Adds one to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Keeps the spool's numbers for the next scrape.
    pub fn set_spool(&self, stats: Stats) {
        *self.spool.lock().unwrap_or_else(PoisonError::into_inner) = Some(stats);
    }

    /// The exposition text.
    pub fn text(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::from(
            "# HELP postie_relay_messages_total Messages this relayer judged, by outcome.\n\
             # TYPE postie_relay_messages_total counter\n",
        );
        for (outcome, counter) in [
            ("sent", &self.sent),
            ("kept", &self.kept),
            ("dead", &self.dead),
            ("damaged", &self.damaged),
        ] {
            out.push_str(&format!(
                "postie_relay_messages_total{{outcome=\"{outcome}\"}} {}\n",
                get(counter)
            ));
        }
        out.push_str(&format!(
            "# HELP postie_relay_batches_total Batches this relayer claimed and finished.\n\
             # TYPE postie_relay_batches_total counter\n\
             postie_relay_batches_total {}\n\
             # HELP postie_relay_store_errors_total Failures of the spool's store (a lost database).\n\
             # TYPE postie_relay_store_errors_total counter\n\
             postie_relay_store_errors_total {}\n",
            get(&self.batches),
            get(&self.store_errors)
        ));
        if let Some(stats) = &*self.spool.lock().unwrap_or_else(PoisonError::into_inner) {
            out.push_str(&stats.prometheus());
        }
        out
    }
}

/// Checks that `text` is an address on the loopback interface: the
/// metrics name what the spool holds, which is nobody else's business.
pub fn loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("--metrics {text}: not an address and port (127.0.0.1:9108)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--metrics {text}: a loopback address only (127.0.0.1 or [::1]); put a proxy in front to serve it further"
        ));
    }
    Ok(addr)
}

/// Serves `counters` on `addr` from a thread of its own, for the life of
/// the process.
pub fn serve(addr: SocketAddr, counters: Arc<Counters>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("postie-metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One scrape at a time; a slow client waits out its
                // timeouts, it cannot hold the relayer up.
                let _ = answer(stream, &counters);
            }
        })?;
    Ok(bound)
}

/// Reads one request (its head, at most 8 KiB) and answers it.
fn answer(stream: TcpStream, counters: &Counters) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(io::Read::take(stream.try_clone()?, 8192));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The rest of the head, unread otherwise.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line != "\r\n" && line != "\n" {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            counters.text(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_a_loopback_address_is_taken() {
        assert!(loopback("127.0.0.1:9108").is_ok());
        assert!(loopback("[::1]:9108").is_ok());
        assert!(loopback("0.0.0.0:9108").unwrap_err().contains("loopback"));
        assert!(loopback("192.0.2.1:9108").is_err());
        assert!(loopback("localhost").is_err());
    }

    #[test]
    fn a_scrape_gets_the_counters_and_the_spools_numbers() {
        let counters = Arc::new(Counters::default());
        Counters::add(&counters.sent, 3);
        counters.set_spool(Stats {
            states: vec![("queued", 7, Some(42))],
            sent: Some((3, 9)),
            failed: (1, 2),
        });
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&counters)).unwrap();
        let get = |path: &str| {
            let mut stream = TcpStream::connect(addr).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut text = String::new();
            io::Read::read_to_string(&mut stream, &mut text).unwrap();
            text
        };
        let page = get("/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        for line in [
            "postie_relay_messages_total{outcome=\"sent\"} 3\n",
            "postie_spool_messages{state=\"queued\"} 7\n",
            "postie_spool_oldest_seconds{state=\"queued\"} 42\n",
            "postie_spool_sent_last_minute 3\n",
            "postie_spool_failed_last_minute 1\n",
        ] {
            assert!(page.contains(line), "{line} not in {page}");
        }
        assert!(get("/other").starts_with("HTTP/1.1 404"));
    }
}
