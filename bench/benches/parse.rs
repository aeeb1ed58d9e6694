//! Parse the typical message (text, HTML alternative, a 10 KiB attachment,
//! as postie writes it) with postie's tolerant reader and with mail-parser,
//! and read the same things from it: the subject, each part's decoded body.
//! Target: postie within 1.5x mail-parser's time.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use postie_bench::Inputs;
use postie_mime::reader::{self, PartExt};

fn postie_parse(bytes: &[u8]) -> usize {
    let parsed = reader::parse(bytes);
    let subject = parsed.message.header_text("Subject").map_or(0, |s| s.len());
    parsed
        .message
        .walk()
        .into_iter()
        .filter(|(_, p)| p.parts().is_empty())
        .map(|(_, p)| p.decoded_body().len())
        .sum::<usize>()
        + subject
}

fn mail_parser_parse(bytes: &[u8]) -> usize {
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .expect("mail-parser parses it");
    let subject = message.subject().map_or(0, str::len);
    message
        .parts
        .iter()
        .map(|p| p.contents().len())
        .sum::<usize>()
        + subject
}

fn parse(c: &mut Criterion) {
    let bytes = postie_bench::postie(Inputs::typical());
    eprintln!(
        "parse: {} bytes; postie {} / mail-parser {} content bytes",
        bytes.len(),
        postie_parse(&bytes),
        mail_parser_parse(&bytes)
    );
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("postie", |b| {
        b.iter(|| black_box(postie_parse(black_box(&bytes))))
    });
    group.bench_function("mail-parser", |b| {
        b.iter(|| black_box(mail_parser_parse(black_box(&bytes))))
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
