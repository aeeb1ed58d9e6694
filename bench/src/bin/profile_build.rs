//! A loop over postie's build + serialize of the W5 message
//! (bench-workloads.md), for `perf record`: `profile_build [N] [mail-builder]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let peer = args.next().as_deref() == Some("mail-builder");
    let inputs = postie_bench::W5Inputs::new();
    let mut total = 0;
    for i in 0..n {
        total += if peer {
            postie_bench::mail_builder_w5(&inputs, i).len()
        } else {
            postie_bench::postie_w5(&inputs, i).len()
        };
    }
    println!("{total}");
}
