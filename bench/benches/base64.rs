//! Base64 for bodies: postie's streaming `Base64Writer` (76-character lines
//! with CRLF) into `io::sink()`, against the `base64` crate's bare one-shot
//! `encode_slice` into a preallocated buffer (no line breaks: a floor), and
//! against two hand-written wrappers that produce the same bytes as
//! `Base64Writer` into a preallocated buffer (the fair comparison):
//! `wrap_per_line` encodes each 57-byte line with its own `encode_slice`
//! call, `wrap_two_pass` encodes everything once and then copies the lines
//! out with their CRLF. `bare_chunked` is the bare engine again, but fed in
//! the same 29,184-byte pieces as `Base64Writer` and into one reused buffer
//! of that size (which stays in cache, as `Base64Writer`'s does), with no
//! line breaks: what is left between it and `postie_writer` is the cost of
//! the line breaking and the `Write` plumbing alone.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use postie_bench::pseudo_random;
use postie_mime::base64_stream::{encoded_len, Base64Writer};

fn postie_writer(data: &[u8]) {
    let mut w = Base64Writer::new(io::sink());
    w.write_all(data).expect("write");
    w.finish().expect("finish");
}

fn bare(data: &[u8], out: &mut [u8]) -> usize {
    STANDARD.encode_slice(data, out).expect("encode")
}

/// Input bytes per piece for `bare_chunked`: `Base64Writer`'s chunk.
const CHUNK_IN: usize = 57 * 512;

fn bare_chunked(data: &[u8], buf: &mut [u8]) -> usize {
    let mut total = 0;
    for piece in data.chunks(CHUNK_IN) {
        let n = STANDARD.encode_slice(piece, &mut *buf).expect("encode");
        black_box(&buf[..n]);
        total += n;
    }
    total
}

fn wrap_per_line(data: &[u8], out: &mut [u8]) -> usize {
    let mut pos = 0;
    for line in data.chunks(57) {
        let end = pos + line.len().div_ceil(3) * 4;
        let n = STANDARD
            .encode_slice(line, &mut out[pos..end])
            .expect("encode");
        out[pos + n..pos + n + 2].copy_from_slice(b"\r\n");
        pos += n + 2;
    }
    pos
}

fn wrap_two_pass(data: &[u8], tmp: &mut [u8], out: &mut [u8]) -> usize {
    let n = STANDARD.encode_slice(data, tmp).expect("encode");
    let mut pos = 0;
    for line in tmp[..n].chunks(76) {
        out[pos..pos + line.len()].copy_from_slice(line);
        out[pos + line.len()..pos + line.len() + 2].copy_from_slice(b"\r\n");
        pos += line.len() + 2;
    }
    pos
}

fn base64(c: &mut Criterion) {
    for mib in [1usize, 16] {
        let len = mib << 20;
        let data = pseudo_random(len, 0xBEEF);
        let wrapped_len = encoded_len(len as u64) as usize;
        let bare_len = len.div_ceil(3) * 4;
        let mut out = vec![0u8; wrapped_len];
        let mut tmp = vec![0u8; bare_len];
        let mut chunk_buf = vec![0u8; CHUNK_IN / 3 * 4];

        // The wrappers must produce what Base64Writer does.
        let mut reference = Base64Writer::new(Vec::new());
        reference.write_all(&data).expect("write");
        let reference = reference.finish().expect("finish");
        assert_eq!(reference.len(), wrapped_len);
        let n = wrap_per_line(&data, &mut out);
        assert_eq!(&out[..n], &reference[..]);
        out.fill(0);
        let n = wrap_two_pass(&data, &mut tmp, &mut out);
        assert_eq!(&out[..n], &reference[..]);
        assert_eq!(bare_chunked(&data, &mut chunk_buf), bare_len);
        drop(reference);

        let mut group = c.benchmark_group(format!("base64_{mib}MiB"));
        group.throughput(Throughput::Bytes(len as u64));
        // Each iteration is long (0.5 ms to 30 ms here): few, flat samples.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(if mib >= 16 { 10 } else { 40 });
        group.bench_function(BenchmarkId::from_parameter("postie_writer"), |b| {
            b.iter(|| postie_writer(black_box(&data)))
        });
        group.bench_function(BenchmarkId::from_parameter("bare"), |b| {
            b.iter(|| black_box(bare(black_box(&data), &mut tmp)))
        });
        group.bench_function(BenchmarkId::from_parameter("bare_chunked"), |b| {
            b.iter(|| black_box(bare_chunked(black_box(&data), &mut chunk_buf)))
        });
        group.bench_function(BenchmarkId::from_parameter("wrap_per_line"), |b| {
            b.iter(|| black_box(wrap_per_line(black_box(&data), &mut out)))
        });
        group.bench_function(BenchmarkId::from_parameter("wrap_two_pass"), |b| {
            b.iter(|| black_box(wrap_two_pass(black_box(&data), &mut tmp, &mut out)))
        });
        group.finish();
    }
}

criterion_group!(benches, base64);
criterion_main!(benches);
