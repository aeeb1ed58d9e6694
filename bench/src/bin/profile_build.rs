//! A loop over postie's build + serialize, for `perf record`.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut total = 0;
    for _ in 0..n {
        total += postie_bench::postie(postie_bench::Inputs::typical()).len();
    }
    println!("{total}");
}
