//! Criterion benches: every ternary kernel × available ISA × contract on the
//! shapes of DESIGN.md §1, n ∈ {1, 8, 256}, one thread, end to end
//! (activation quantization and table building included), beside the dense
//! f32 baseline. GEMV rows (n = 1) report packed-weight bytes per second
//! (f32 weight bytes for the baseline), GEMM rows 2·m·n·k operations per
//! second. Scalar kernels are skipped at n > 8 (the quick bench covers them).
//!
//! `cargo bench --bench ternary -- 'ternary/n=1/.*4096x4096'` runs a subset.

mod common;

#[path = "common/suite.rs"]
mod suite;

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    suite::bench_cases(c, common::TERNARY_CASES);
}

criterion_group!(benches, bench);
criterion_main!(benches);
