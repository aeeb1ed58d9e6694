//! The SMTP side's own costs, without a network: parsing replies (a
//! multi-line EHLO answer, a pipelined batch of replies, one at a time and
//! split into small reads), writing commands (the sans-IO core from the
//! greeting to the body step of one pipelined transaction, as bytes in and
//! bytes out), and the DATA path (dot-stuffing and CRLF repair of a body,
//! in MiB/s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use postie_smtp::data::DataEncoder;
use postie_smtp::proto::{Config, Delivery, Step};
use postie_smtp::reply::ReplyParser;
use postie_smtp::{ServerAddr, TlsMode, TransportSettings};

const EHLO: &[u8] = b"250-postfix.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-256\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
const BATCH: &[u8] = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@example.org>: \
Recipient address rejected: User unknown\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

fn parse_all(parser: &mut ReplyParser, bytes: &[u8], piece: usize) -> usize {
    let mut n = 0;
    for chunk in bytes.chunks(piece) {
        parser.push(chunk);
        while let Ok(Some(reply)) = parser.next_reply() {
            n += reply.code() as usize;
        }
    }
    n
}

fn replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply_parsing");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ehlo_12_lines", |b| {
        let mut parser = ReplyParser::default();
        b.iter(|| parse_all(&mut parser, black_box(EHLO), EHLO.len()));
    });
    group.bench_function("pipelined_batch_5_replies", |b| {
        let mut parser = ReplyParser::default();
        b.iter(|| parse_all(&mut parser, black_box(BATCH), BATCH.len()));
    });
    group.bench_function("ehlo_in_7_byte_reads", |b| {
        let mut parser = ReplyParser::default();
        b.iter(|| parse_all(&mut parser, black_box(EHLO), 7));
    });
    group.finish();
}

fn config() -> Config {
    let mut settings = TransportSettings::default();
    settings.chunking = false;
    settings.at_least_one = true;
    settings.tls = Some(TlsMode::None);
    let mut config = Config::new(
        vec![ServerAddr {
            host: "127.0.0.1".into(),
            port: 25,
        }],
        "client.example.org",
        "ann@example.org",
        vec![
            "bob@example.org".into(),
            "cy@example.org".into(),
            "x@example.org".into(),
        ],
        Arc::new(settings),
    );
    config.size = Some(4096);
    config
}

/// The core from connect to the body step: greeting, EHLO, one pipelined
/// MAIL + 3 RCPT + DATA batch with a refusal, then the end of data and
/// QUIT. Returns the bytes it wrote.
fn dialogue() -> usize {
    let now = Instant::now();
    let mut d = Delivery::new(config(), now).expect("config");
    let mut written = 0;
    let mut replies: [&[u8]; 5] = [
        b"220 postfix.test ESMTP\r\n",
        EHLO,
        BATCH,
        b"250 2.0.0 Ok: queued as 4XyZ\r\n",
        b"221 2.0.0 Bye\r\n",
    ];
    let mut next = 0;
    loop {
        match d.poll(now) {
            Step::Connect { .. } => d.handle_connected(now, true),
            Step::Write { .. } => written += d.take_output().len(),
            Step::Read { .. } => {
                let reply = replies.get_mut(next).map(std::mem::take);
                next += 1;
                match reply {
                    Some(bytes) => d.handle_input(now, bytes),
                    None => d.handle_eof(now),
                }
            }
            Step::WriteBody { .. } => d.handle_body_written(now),
            Step::Close => {}
            Step::Done => break,
            _ => d.handle_timeout(now + Duration::from_secs(3600)),
        }
    }
    assert!(d.into_result().is_ok());
    written
}

fn commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("command_writing");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_pipelined_transaction_in_the_core", |b| {
        b.iter(|| black_box(dialogue()));
    });
    group.finish();
}

fn data_path(c: &mut Criterion) {
    let body: Vec<u8> = postie_bench::text_body(1 << 20).into_bytes();
    let mut group = c.benchmark_group("data_path");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("dot_stuff_crlf_1MiB", |b| {
        let mut out = Vec::with_capacity(body.len() + 4096);
        b.iter(|| {
            out.clear();
            let mut encoder = DataEncoder::new();
            for slice in body.chunks(64 * 1024) {
                encoder.encode(black_box(slice), &mut out);
            }
            encoder.finish(&mut out);
            out.len()
        });
    });
    group.finish();
}

criterion_group!(benches, replies, commands, data_path);
criterion_main!(benches);
