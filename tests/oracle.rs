//! Every kernel × ISA available here against the f64/integer oracle.

mod common;

use common::*;
use lutgemm::{
    Context, Dequantize, Isa, KernelFamily, ScaleGranularity, TernaryMatrix, kernels, reference,
};

#[test]
fn every_family_has_a_kernel_for_every_isa_here() {
    let here = kernels_here();
    for isa in Isa::available() {
        assert!(
            here.iter()
                .any(|k| isa.with_included().contains(&k.isa)
                    && k.family() == KernelFamily::MultiplyAdd),
            "no multiply-add kernel for {isa}"
        );
        let luts = here
            .iter()
            .filter(|k| {
                isa.with_included().contains(&k.isa)
                    && matches!(k.family(), KernelFamily::LutG2 | KernelFamily::LutG4)
            })
            .count();
        assert!(luts >= 1, "no table-lookup kernel for {isa}");
    }
    // With LUTGEMM_CI=1 every x86 ISA must be built (build.rs fails otherwise).
    if cfg!(target_arch = "x86_64")
        && !cfg!(feature = "pure")
        && std::env::var("LUTGEMM_CI").is_ok_and(|v| v == "1")
    {
        assert!(kernels::all().any(|k| k.isa == Isa::Avx512));
        assert!(kernels::all().any(|k| k.isa == Isa::Avx2));
    }
    if cfg!(target_arch = "aarch64")
        && !cfg!(feature = "pure")
        && std::env::var("LUTGEMM_CI").is_ok_and(|v| v == "1")
    {
        for isa in [Isa::Neon, Isa::Dotprod, Isa::I8mm] {
            assert!(
                kernels::all().any(|k| k.isa == isa),
                "no {isa} kernels built"
            );
        }
    }
}

#[test]
fn tails_and_small_shapes() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let ms = [1, 2, 3, 31, 33, 65, 255, 257];
    let ks = [1, 2, 3, 4, 31, 33, 64, 255, 257, 1000];
    for &m in &ms {
        for &k in &ks {
            for g in GRANULARITIES.iter().filter_map(|g| g(k)) {
                let n = 1 + rng.below(3) as usize;
                let w = random_ternary(m, k, g, &mut rng);
                let q = random_q(n, k, &mut rng);
                let d: Vec<f32> = (0..n).map(|_| rng.f32().abs() + 0.001).collect();
                check_all_kernels(&w, &q, &d, n);
            }
        }
    }
}

#[test]
fn odd_block_sizes_are_padded() {
    let mut rng = Rng(7);
    for (k, bl) in [(300, 100), (96, 3), (520, 130), (4100, 1025)] {
        let w = random_ternary(40, k, ScaleGranularity::PerBlock(bl), &mut rng);
        let q = random_q(3, k, &mut rng);
        check_all_kernels(&w, &q, &[0.5, 1.0, 2.0], 3);
    }
}

#[test]
fn n_up_to_many_tokens() {
    // Crosses the token-batch boundary of the table kernels.
    let mut rng = Rng(11);
    let (m, k) = (96, 2048);
    let w = random_ternary(m, k, ScaleGranularity::PerRow, &mut rng);
    for n in [4, 9, 31, 33] {
        let q = random_q(n, k, &mut rng);
        let d: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
        check_all_kernels(&w, &q, &d, n);
    }
}

#[test]
fn worst_case_overflow_inputs() {
    // All activations at ±127 with one sign, all weights at ±1: the largest
    // partial sums any kernel can see, over the longest real rows.
    let ks: &[usize] = if small_shapes() {
        &[14336]
    } else {
        &[14336, 8640, 4096 + 4]
    };
    for &k in ks {
        for (qv, code) in [(127i8, 1i8), (-127, 1), (127, -1), (-127, -1)] {
            let m = 70;
            let w = TernaryMatrix::new(
                m,
                k,
                vec![code; m * k],
                vec![1.0],
                ScaleGranularity::PerTensor,
            )
            .unwrap();
            let q = vec![qv; k];
            let want = reference::integer_sums(&w, &q, 1);
            assert!(
                want.iter()
                    .all(|&s| s == qv as i32 * code as i32 * k as i32)
            );
            for kernel in kernels_here() {
                check_kernel(&w, kernel, &q, &[1.0], 1, &want);
            }
        }
    }
}

#[test]
fn five_per_byte_worst_case_at_the_longest_rows() {
    // The mad5 kernels keep per-digit accumulators, one of them scaled by
    // 4 (and by 16 on dotprod): their int32 bounds are stated for scale
    // groups up to MAX_K. All ±127 activations of one sign against all-+1
    // (stored as the canonical group) and all-−1 (sign bit set) weights,
    // one group of MAX_K and groups of 256 (TQ1_0's blocks); two tokens
    // (the token-pair paths) of opposite signs.
    let k = lutgemm::format::MAX_K;
    let mad5: Vec<_> = kernels_here()
        .into_iter()
        .filter(|k| k.family() == KernelFamily::MultiplyAdd5)
        .collect();
    assert!(!mad5.is_empty());
    for g in [ScaleGranularity::PerTensor, ScaleGranularity::PerBlock(256)] {
        for code in [1i8, -1] {
            let m = 67;
            let scales = vec![1.0; g.scale_count(m, k).unwrap()];
            let w = TernaryMatrix::new(m, k, vec![code; m * k], scales, g).unwrap();
            let mut q = vec![127i8; k];
            q.extend(std::iter::repeat_n(-127i8, k));
            let want = reference::integer_sums(&w, &q, 2);
            let bl = w.group_len() as i32;
            assert!(
                want[..want.len() / 2]
                    .iter()
                    .all(|&s| s == 127 * code as i32 * bl)
            );
            for kernel in &mad5 {
                check_kernel(&w, kernel, &q, &[1.0, 1.0], 2, &want);
            }
        }
    }
}

#[test]
fn adversarial_activations() {
    let mut rng = Rng(3);
    let (m, k) = (65, 1024);
    let w = random_ternary(m, k, ScaleGranularity::PerBlock(256), &mut rng);
    let patterns: Vec<Vec<f32>> = vec![
        vec![1e30; k],
        vec![-3.5; k],
        (0..k)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
        vec![0.0; k],
        (0..k)
            .map(|i| {
                if i == 17 {
                    1e6
                } else {
                    1e-3 * (i as f32).sin()
                }
            })
            .collect(),
        (0..k).map(|_| f32::MIN_POSITIVE * rng.f32()).collect(),
        (0..k).map(|_| 1e-30 * rng.f32()).collect(),
    ];
    for x in patterns {
        let (q, d) = reference::quantize_activations(&x, 1, k);
        check_all_kernels(&w, &q, &d, 1);
        // The float entry point quantizes exactly like the reference.
        for kernel in kernels_here() {
            let p = pack_for(&w, kernel);
            let mut y = vec![0f32; m];
            Context::with_threads(1)
                .unwrap()
                .matmul(&p, &x, 1, &mut y)
                .unwrap();
            check_float(&w, &q, &d, 1, &y, kernel.name);
        }
    }
}

#[test]
fn float_entry_points_match_reference() {
    let mut rng = Rng(5);
    let (m, k, n) = (48, 320, 3);
    let wf: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
    let w = TernaryMatrix::quantize_f32(&wf, m, k, ScaleGranularity::PerRow).unwrap();
    let x: Vec<f32> = (0..n * k).map(|_| rng.f32() * 4.0).collect();
    let (q, d) = reference::quantize_activations(&x, n, k);
    let xh: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let xb: Vec<half::bf16> = x.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let back = |v: &[f32]| reference::quantize_activations(v, n, k);
    let (qh, dh) = back(&xh.iter().map(|v| v.to_f32()).collect::<Vec<_>>());
    let (qb, db) = back(&xb.iter().map(|v| v.to_f32()).collect::<Vec<_>>());
    for kernel in kernels_here() {
        let p = pack_for(&w, kernel);
        let mut ctx = Context::with_threads(1).unwrap();
        let mut y = vec![0f32; n * m];
        ctx.matmul(&p, &x, n, &mut y).unwrap();
        check_float(&w, &q, &d, n, &y, kernel.name);
        ctx.matmul(&p, &xh, n, &mut y).unwrap();
        check_float(&w, &qh, &dh, n, &y, kernel.name);
        ctx.matmul(&p, &xb, n, &mut y).unwrap();
        check_float(&w, &qb, &db, n, &y, kernel.name);
        // Total error against the unquantized f64 product stays small.
        ctx.matmul(&p, &x, n, &mut y).unwrap();
        let full = reference::matmul_f64(&w, &x, n);
        let num: f64 = y
            .iter()
            .zip(&full)
            .map(|(a, b)| (*a as f64 - b).powi(2))
            .sum();
        let den: f64 = full.iter().map(|b| b * b).sum();
        assert!(
            num / den < 1e-3,
            "{}: NMSE {} vs unquantized",
            kernel.name,
            num / den
        );
    }
}

#[test]
fn thread_count_invariance() {
    let mut rng = Rng(13);
    let (m, k, n) = (1000, 768, 5);
    let w = random_ternary(m, k, ScaleGranularity::PerBlock(256), &mut rng);
    let x: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
    for kernel in kernels_here() {
        assert_thread_invariant(&pack_for(&w, kernel), &x, n);
    }
}

#[test]
fn one_packed_matrix_many_threads() {
    let mut rng = Rng(17);
    let (m, k) = (256, 512);
    let w = random_ternary(m, k, ScaleGranularity::PerTensor, &mut rng);
    let p = lutgemm::PackedTernary::pack(&w, &Default::default()).unwrap();
    let x: Vec<f32> = (0..k).map(|_| rng.f32()).collect();
    let mut y0 = vec![0f32; m];
    Context::with_threads(1)
        .unwrap()
        .matmul(&p, &x, 1, &mut y0)
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut ctx = Context::with_threads(1).unwrap();
                let mut y = vec![0f32; m];
                for _ in 0..10 {
                    ctx.matmul(&p, &x, 1, &mut y).unwrap();
                    assert_eq!(y, y0);
                }
            });
        }
    });
}

#[test]
fn real_model_shapes() {
    // DESIGN.md §1 shapes (run the suite in release mode).
    let all = [
        (2560, 2560),
        (640, 2560),
        (6912, 2560),
        (2560, 6912),
        (3200, 3200),
        (8640, 3200),
        (3200, 8640),
        (4096, 4096),
        (1024, 4096),
        (14336, 4096),
        (4096, 14336),
    ];
    // Under emulation, two real shapes (every kernel still runs).
    let shapes: &[(usize, usize)] = if small_shapes() { &all[1..2] } else { &all };
    let mut rng = Rng(23);
    for (i, &(m, k)) in shapes.iter().enumerate() {
        // Alternate granularities so each appears at real sizes; n = 2 on
        // one shape crosses tokens.
        let g = [
            ScaleGranularity::PerTensor,
            ScaleGranularity::PerRow,
            ScaleGranularity::PerBlock(128),
        ][i % 3];
        let n = if i == 7 { 2 } else { 1 };
        let w = random_ternary(m, k, g, &mut rng);
        let q = random_q(n, k, &mut rng);
        let d: Vec<f32> = (0..n).map(|_| 0.02).collect();
        check_all_kernels(&w, &q, &d, n);
    }
}

#[test]
fn packed_weights_are_send_sync_and_context_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<lutgemm::PackedTernary>();
    send_sync::<lutgemm::TernaryMatrix>();
    send::<Context>();
}

#[test]
fn worker_tables_follow_every_call() {
    // With several threads each worker builds the tables it reads in its
    // own slot and keeps them while it stays in one token tile: calls that
    // alternate activations on one context must never see stale tables.
    let mut rng = Rng(29);
    let (m, k) = (300, 512);
    let w = random_ternary(m, k, ScaleGranularity::PerTensor, &mut rng);
    for kernel in kernels_here() {
        let p = pack_for(&w, kernel);
        for n in [1, 3, 20] {
            let xs: Vec<Vec<f32>> = (0..2)
                .map(|_| (0..n * k).map(|_| rng.f32()).collect())
                .collect();
            let want: Vec<Vec<f32>> = xs
                .iter()
                .map(|x| {
                    let mut y = vec![0f32; n * m];
                    Context::with_threads(1)
                        .unwrap()
                        .matmul(&p, x, n, &mut y)
                        .unwrap();
                    y
                })
                .collect();
            let mut ctx = Context::with_threads(2).unwrap();
            for round in 0..6 {
                let mut y = vec![0f32; n * m];
                ctx.matmul(&p, &xs[round % 2], n, &mut y).unwrap();
                assert!(
                    y.iter()
                        .zip(&want[round % 2])
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{} n {n} round {round}",
                    kernel.name
                );
            }
        }
    }
}
