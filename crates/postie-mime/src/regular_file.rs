//! Files whose bytes go into a message must be regular files.
//!
//! A directory fails only once it is read, a device such as `/dev/zero`
//! never ends, and opening a FIFO blocks until something writes to it; none
//! has a size that can be announced to a server. Each is refused when the
//! file is attached ([`Message::file`](crate::Message::file)) or a message
//! is read from it ([`Message::parse_file`](crate::Message::parse_file)),
//! and again whenever it is opened to be written, since it may have been
//! swapped in between.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Opens `path` for reading when it is a regular file (after following
/// symbolic links); anything else is an [`io::ErrorKind::InvalidInput`]
/// error naming the path and what it is. Opening never blocks, not even on
/// a FIFO.
pub fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO without a writer would block the open itself; on a
        // regular file the flag changes nothing.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file but {}",
                path.display(),
                describe(kind)
            ),
        ))
    }
}

/// What a file that is not a regular one is, in words.
fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// How much of a file is read at a time, by the writer and by the decoding
/// reader alike (a multiple of 57, so base64 lines come out whole).
pub(crate) const FILE_CHUNK: usize = 57 * 1024;

/// Opens `path` positioned at `offset`.
pub(crate) fn open_at(path: &Path, offset: u64) -> io::Result<File> {
    let mut file = open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

/// Reads `file` to its end, at most `size` bytes at a time, into `each`.
pub(crate) fn for_each_chunk(
    file: &mut impl Read,
    size: usize,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => each(buf.get(..n).unwrap_or_default())?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open() {
        let dir = std::env::temp_dir().join(format!("postie-regular-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.txt");
        std::fs::write(&file, b"x").unwrap();
        assert!(open(&file).is_ok());
        let err = open(&dir).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = open(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        // A FIFO with no writer: the open returns at once instead of
        // waiting for one.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = open(&fifo).unwrap_err();
            assert!(err.to_string().contains("a FIFO"), "{err}");
        }
        let err = open(&dir.join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
