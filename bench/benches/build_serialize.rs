//! Build and serialize a typical message (From/To/Subject/Date/Message-ID,
//! ~1 KiB text, ~2 KiB HTML alternative, a 10 KiB attachment from bytes)
//! with postie-mime, lettre and mail-builder. Each iteration gets freshly
//! owned inputs (made outside the timed part) and yields the message bytes.
//! `build_serialize_text_only` is the same message without the attachment,
//! to tell the header/structure/text cost from the base64 cost.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use postie_bench::{check_output, Inputs};

type Lib = (&'static str, fn(Inputs) -> Vec<u8>);

const LIBS: &[Lib] = &[
    ("postie", postie_bench::postie),
    ("lettre", postie_bench::lettre),
    ("mail-builder", postie_bench::mail_builder),
];

fn build_serialize(c: &mut Criterion) {
    bench_group(c, "build_serialize", &Inputs::typical());
    bench_group(c, "build_serialize_text_only", &Inputs::text_only());
}

fn bench_group(c: &mut Criterion, group_name: &str, inputs: &Inputs) {
    for (name, f) in LIBS {
        let out = f(inputs.clone());
        check_output(name, &out, inputs);
        eprintln!("{group_name}: {name}: {} bytes of message", out.len());
    }
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    for (name, f) in LIBS {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || inputs.clone(),
                |i| black_box(f(i)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, build_serialize);
criterion_main!(benches);
