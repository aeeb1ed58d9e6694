//! A 100 MiB attachment: wall time and peak RSS (VmHWM) of building the
//! message and writing it to a sink, for one library per process.
//!
//! ```text
//! big_attachment LIB [--file PATH] [--size-mib N] [--reps N]
//!   LIB: postie        MessageBuilder::attach_file, streamed from the file
//!        postie-bytes  fs::read + attach_bytes (the in-memory path, for contrast)
//!        mail-builder  fs::read + attachment(...), write_to(sink)
//!        lettre        fs::read + Attachment::body(...), formatted() then sink
//!   --file PATH  the attachment; made (pseudo-random) if missing or of
//!                another size. Without it, one is made in a fresh temp dir
//!                and removed afterwards.
//! ```
//!
//! Prints one `RESULT` line per repetition: seconds, peak RSS (VmHWM) of
//! the whole process, the RSS before the work started, output bytes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use postie_bench::{fill_pseudo_random, rss_kib, CountingSink};

fn main() {
    if let Err(e) = run() {
        eprintln!("big_attachment: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lib = args
        .next()
        .ok_or("usage: big_attachment LIB [--file PATH] [--size-mib N] [--reps N]")?;
    let mut file: Option<PathBuf> = None;
    let mut size_mib: u64 = 100;
    let mut reps: u32 = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--file" => file = Some(args.next().ok_or("--file needs a path")?.into()),
            "--size-mib" => size_mib = args.next().ok_or("--size-mib needs N")?.parse()?,
            "--reps" => reps = args.next().ok_or("--reps needs N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let size = size_mib << 20;
    let (path, temp_dir) = match file {
        Some(p) => (p, None),
        None => {
            let dir = std::env::temp_dir().join(format!("postie-bench-{}", std::process::id()));
            fs::create_dir_all(&dir)?;
            (dir.join("big.bin"), Some(dir))
        }
    };
    ensure_file(&path, size)?;

    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        for rep in 0..reps {
            let (_, before) = rss_kib();
            let start = Instant::now();
            let out = match lib.as_str() {
                "postie" => postie_file(&path)?,
                "postie-bytes" => postie_bytes(&path)?,
                "mail-builder" => mail_builder(&path)?,
                "lettre" => lettre(&path)?,
                other => return Err(format!("unknown library {other}").into()),
            };
            let secs = start.elapsed().as_secs_f64();
            let (peak, _) = rss_kib();
            // base64 of `size` bytes in 76-character lines is at least this.
            let min_out = size.div_ceil(57) * 78 - 78;
            if out < min_out {
                return Err(
                    format!("{lib}: only {out} bytes written, expected > {min_out}").into(),
                );
            }
            println!(
                "RESULT lib={lib} rep={rep} size_mib={size_mib} secs={secs:.4} peak_kib={peak} \
                 rss_before_kib={before} out_bytes={out}"
            );
        }
        Ok(())
    })();
    if let Some(dir) = temp_dir {
        let _ = fs::remove_dir_all(dir);
    }
    result
}

/// Makes `path` hold `size` pseudo-random bytes unless it already has that
/// size; written in 1 MiB pieces so the peak RSS is not raised by it.
fn ensure_file(path: &Path, size: u64) -> io::Result<()> {
    if fs::metadata(path).map(|m| m.len() == size).unwrap_or(false) {
        return Ok(());
    }
    let mut f = io::BufWriter::new(File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut x = 0x9E37_79B9u32;
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        fill_pseudo_random(&mut buf[..n], &mut x);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn postie_builder() -> postie_mime::builder::MessageBuilder {
    postie_mime::builder::MessageBuilder::new()
        .from("Ann Example <ann@example.org>")
        .to("Bob Example <bob@example.org>")
        .subject("The big file")
        .text("Here it is.")
}

fn postie_file(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let msg = postie_builder().attach_file(path).build()?;
    let mut sink = CountingSink::default();
    msg.write_to(&mut sink)?;
    Ok(sink.bytes)
}

fn postie_bytes(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let data = fs::read(path)?;
    let msg = postie_builder()
        .attach_bytes("big.bin", data, None)
        .build()?;
    let mut sink = CountingSink::default();
    msg.write_to(&mut sink)?;
    Ok(sink.bytes)
}

fn mail_builder(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let data = fs::read(path)?;
    let mut sink = CountingSink::default();
    mail_builder::MessageBuilder::new()
        .from(("Ann Example", "ann@example.org"))
        .to(("Bob Example", "bob@example.org"))
        .subject("The big file")
        .text_body("Here it is.")
        .attachment("application/octet-stream", "big.bin", data)
        .write_to(&mut sink)?;
    Ok(sink.bytes)
}

fn lettre(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    let data = fs::read(path)?;
    let msg = lettre::Message::builder()
        .from("Ann Example <ann@example.org>".parse()?)
        .to("Bob Example <bob@example.org>".parse()?)
        .subject("The big file")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("Here it is.".to_owned()))
                .singlepart(
                    Attachment::new("big.bin".to_owned())
                        .body(data, ContentType::parse("application/octet-stream")?),
                ),
        )?;
    let bytes = msg.formatted();
    let mut sink = CountingSink::default();
    sink.write_all(&bytes)?;
    Ok(sink.bytes)
}
