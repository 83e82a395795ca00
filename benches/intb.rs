//! Criterion benches: every b-bit integer kernel × available ISA × contract
//! for 2-bit weights in groups of 64 and 4-bit in groups of 32 and 128
//! (`common::INT_CASES`, asymmetric: a scale and an offset per group) on the
//! shapes of DESIGN.md §1, n ∈ {1, 8, 256}, one thread, end to end
//! (activation quantization and table building included), beside the dense
//! f32 baseline. GEMV rows (n = 1) report packed-weight bytes per second
//! (f32 weight bytes for the baseline), GEMM rows 2·m·n·k operations per
//! second. Scalar kernels are skipped at n > 8 (the quick bench covers them).
//!
//! `cargo bench --bench intb -- 'int4_g32/n=1/.*4096x4096'` runs a subset.

mod common;

use common::Case;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lutgemm::Context;
use std::cell::OnceCell;
use std::time::Duration;

/// Benchmarks every available kernel of each case beside the dense f32
/// baseline, one criterion group per case and n (`<case>/n=<n>`). Each
/// matrix is quantized and packed once per shape for every n (so a group is
/// reopened per shape); the dense weights are built only if their bench
/// runs.
fn bench_cases(c: &mut Criterion, cases: &[Case]) {
    let mut ctx = Context::with_threads(1).expect("context");
    for case in cases {
        let kernels = common::kernels_for(case.format);
        for &(m, k, _) in common::SHAPES {
            if !case.fits(k) {
                continue;
            }
            let w = case.weights(m, k);
            let dense = OnceCell::new();
            let packs: Vec<_> = kernels
                .iter()
                .map(|&kd| common::pack_for(w.as_dyn(), kd).expect("pack"))
                .collect();
            let shape = format!("{m}x{k}");
            for &n in common::NS {
                let mut group = c.benchmark_group(format!("{case}/n={n}"));
                group
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(1));
                let x = common::values(n * k, 7);
                let mut y = vec![0f32; n * m];
                let throughput = |bytes: usize| {
                    if n == 1 {
                        Throughput::Bytes(bytes as u64)
                    } else {
                        Throughput::Elements((2 * m * n * k) as u64)
                    }
                };
                group.throughput(throughput(m * k * 4));
                group.bench_function(BenchmarkId::new("dense_f32", &shape), |b| {
                    let d = dense.get_or_init(|| w.dequantize());
                    b.iter(|| common::dense_f32(d, &x, m, k, n, &mut y))
                });
                for p in packs
                    .iter()
                    .filter(|p| common::runs_by_default(p.kernel().isa, n))
                {
                    group.throughput(throughput(p.packed_bytes()));
                    group.bench_function(BenchmarkId::new(p.kernel().name, &shape), |b| {
                        b.iter(|| ctx.matmul(p, &x, n, &mut y).expect("matmul"))
                    });
                }
                group.finish();
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    bench_cases(c, common::INT_CASES);
}

criterion_group!(benches, bench);
criterion_main!(benches);
