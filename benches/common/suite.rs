//! The criterion suite shared by `benches/ternary.rs` and
//! `benches/intb.rs`: every available kernel of each case beside the dense
//! f32 baseline.

use crate::common::{self, Case};
use criterion::{BenchmarkId, Criterion, Throughput};
use lutgemm::Context;
use std::cell::OnceCell;
use std::time::Duration;

/// Benchmarks every available kernel of each case beside the dense f32
/// baseline, one criterion group per case and n (`<case>/n=<n>`). Each
/// matrix is quantized and packed once per shape for every n (so a group is
/// reopened per shape); the dense weights are built only if their bench
/// runs.
pub fn bench_cases(c: &mut Criterion, cases: &[Case]) {
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
