//! Criterion benches: every ternary kernel × available ISA on the shapes of
//! DESIGN.md §1, n ∈ {1, 8, 256}, one thread, end to end (activation
//! quantization and table building included). GEMV rows (n = 1) report
//! packed-weight bytes per second, GEMM rows 2·m·n·k operations per second.
//!
//! `cargo bench --bench ternary -- 'ternary/n=1/.*4096x4096'` runs a subset.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lutgemm::{Context, Isa, PackOptions, PackedTernary, kernels};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut ctx = Context::with_threads(1).expect("context");
    for &n in common::NS {
        let mut group = c.benchmark_group(format!("ternary/n={n}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for &(m, k, _) in common::SHAPES {
            let tern = common::ternary(m, k);
            let x = common::values(n * k, 7);
            let mut y = vec![0f32; n * m];
            let dense = tern.dequantize();
            group.throughput(if n == 1 {
                Throughput::Bytes((m * k * 4) as u64)
            } else {
                Throughput::Elements((2 * m * n * k) as u64)
            });
            group.bench_function(BenchmarkId::new("dense_f32", format!("{m}x{k}")), |b| {
                b.iter(|| common::dense_f32(&dense, &x, m, k, n, &mut y))
            });
            for kd in kernels::available().filter(|k| {
                k.supports(lutgemm::Format::Ternary) && k.contract == lutgemm::Contract::Exact
            }) {
                // A scalar call at n = 256 takes seconds; the quick bench covers it.
                if kd.isa == Isa::Scalar && n > 8 {
                    continue;
                }
                let p = PackedTernary::pack(
                    &tern,
                    &PackOptions {
                        family: Some(kd.family()),
                        isa: Some(kd.isa),
                        ..PackOptions::default()
                    },
                )
                .expect("pack");
                group.throughput(if n == 1 {
                    Throughput::Bytes(p.packed_bytes() as u64)
                } else {
                    Throughput::Elements((2 * m * n * k) as u64)
                });
                group.bench_function(BenchmarkId::new(kd.name, format!("{m}x{k}")), |b| {
                    b.iter(|| ctx.matmul(&p, &x, n, &mut y).expect("matmul"))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
