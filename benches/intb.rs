//! Criterion benches: every b-bit integer kernel × available ISA × contract
//! for 2-bit weights in groups of 64 and 4-bit in groups of 32 and 128
//! (`common::INT_CASES`, asymmetric: a scale and an offset per group, f16
//! values as GGUF stores them; `int4_g32_f32scales` the same with f32
//! values, which the fused multiply-add kernels read at twice the bytes) on the
//! shapes of DESIGN.md §1, n ∈ {1, 8, 256}, one thread, end to end
//! (activation quantization and table building included), beside the dense
//! f32 baseline. GEMV rows (n = 1) report packed-weight bytes per second
//! (f32 weight bytes for the baseline), GEMM rows 2·m·n·k operations per
//! second. Scalar kernels are skipped at n > 8 (the quick bench covers them).
//!
//! `cargo bench --bench intb -- 'int4_g32/n=1/.*4096x4096'` runs a subset.

mod common;

#[path = "common/suite.rs"]
mod suite;

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    suite::bench_cases(c, common::INT_CASES);
}

criterion_group!(benches, bench);
criterion_main!(benches);
