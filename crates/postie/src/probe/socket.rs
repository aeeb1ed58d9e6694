//! Connecting to a Unix socket (a target given as a path, as local LMTP
//! servers listen on one), and why it failed, in words.

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::exit;

use super::failure::Failure;

/// Connects to the socket at `path`. There is no time limit, as in
/// `postie_smtp`'s `UnixConnector`: a local socket accepts or refuses at
/// once.
pub(super) fn connect(path: &str) -> Result<UnixStream, Failure> {
    UnixStream::connect(path).map_err(|e| failure(Path::new(path), &e))
}

/// The failure to connect to `path`. As for `postie send`, any of them
/// may pass (75), like a refused TCP connection: a socket appears when
/// its server starts. Only a path too long for any socket is a usage
/// error (64).
fn failure(path: &Path, error: &io::Error) -> Failure {
    let shown = path.display();
    if error.kind() == io::ErrorKind::InvalidInput {
        return Failure::new(
            exit::USAGE,
            format!("cannot connect to {shown}: the path is too long for a Unix socket"),
        );
    }
    Failure::new(
        exit::TEMPFAIL,
        format!("cannot connect to {shown}: {}", why(path, error)),
    )
}

/// Why connecting to `path` failed, in words that name what is there.
fn why(path: &Path, error: &io::Error) -> String {
    // Linux refuses a connection to a path that is not a socket as if
    // nobody listened (ECONNREFUSED): what is at the path tells the two
    // apart.
    let found = fs::metadata(path).map(|meta| meta.file_type());
    match (error.kind(), found) {
        (io::ErrorKind::NotFound, _) => "no such file (is the server running?)".to_owned(),
        (io::ErrorKind::PermissionDenied, _) => {
            "permission denied (the socket, or a directory on its path, is closed to this user)"
                .to_owned()
        }
        (_, Ok(kind)) if kind.is_dir() => "not a socket but a directory".to_owned(),
        (_, Ok(kind)) if kind.is_file() => "not a socket but a regular file".to_owned(),
        (_, Ok(kind)) if !kind.is_socket() => "not a socket".to_owned(),
        (io::ErrorKind::ConnectionRefused, _) => {
            "connection refused (nothing listens on the socket)".to_owned()
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    use std::os::unix::net::UnixListener;

    /// A fresh directory of its own for each test.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("postie-socket-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn message(path: &Path) -> (u8, String) {
        let failure = connect(path.to_str().unwrap()).unwrap_err();
        (failure.code, failure.message)
    }

    #[test]
    fn what_is_at_the_path_is_named() {
        let dir = scratch("kinds");
        let (code, text) = message(&dir.join("none"));
        assert_eq!(code, exit::TEMPFAIL);
        assert!(text.contains("none: no such file"), "{text}");

        let file = dir.join("file");
        fs::write(&file, "").unwrap();
        let (code, text) = message(&file);
        assert_eq!(code, exit::TEMPFAIL);
        assert!(text.ends_with("not a socket but a regular file"), "{text}");

        let (_, text) = message(&dir);
        assert!(text.ends_with("not a socket but a directory"), "{text}");

        // A socket whose listener is gone stays on disk, refusing.
        let dead = dir.join("dead.sock");
        drop(UnixListener::bind(&dead).unwrap());
        let (code, text) = message(&dead);
        assert_eq!(code, exit::TEMPFAIL);
        assert!(text.contains("connection refused"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_listening_socket_connects() {
        let dir = scratch("live");
        let path = dir.join("live.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        assert!(connect(path.to_str().unwrap()).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn permission_and_length_have_their_own_words() {
        let path = Path::new("/run/x.sock");
        let denied = failure(path, &io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.code, exit::TEMPFAIL);
        assert!(
            denied
                .message
                .starts_with("cannot connect to /run/x.sock: permission denied"),
            "{}",
            denied.message
        );
        let long = format!("/{}", "x".repeat(200));
        let (code, text) = message(Path::new(&long));
        assert_eq!(code, exit::USAGE);
        assert!(text.contains("too long"), "{text}");
    }
}
