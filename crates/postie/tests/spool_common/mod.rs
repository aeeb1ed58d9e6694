//! What the spool's test files share (tests/spool.rs on the folder store,
//! tests/spool_pg.rs on PostgreSQL): a `postie sink` to flush to, a
//! scripted server's accepting transaction, and words for a run's output.
#![allow(dead_code)] // each test file uses its own part

#[cfg(feature = "postgres")]
pub(crate) mod pg;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postie_testkit::Script;

/// A command's exit code and both outputs, for an assertion's message.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's standard error.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `postie sink` on `port`, keeping messages in `maildir`; killed on drop.
pub(crate) struct Sink(Child);

impl Sink {
    pub(crate) fn start(port: u16, maildir: &Path) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_postie"))
            .args(["sink", "--listen", &listen, "--maildir"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Polled often: the crash test starts a sink many times.
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&listen).is_err() {
            assert!(Instant::now() < until, "the sink did not start on {listen}");
            std::thread::sleep(Duration::from_millis(5));
        }
        Self(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scripted server's transaction that takes the message (MAIL, two
/// RCPTs, DATA).
pub(crate) fn accepting(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
}
