//! The Fast and Float contracts, for ternary and 1–4-bit weights: every
//! kernel against the f64 oracle within the contract's bound (src/contract.rs),
//! on Gaussian activations and on heavy-tailed activations with a few large
//! outlier channels; thread invariance.

mod common;

use common::*;
use lutgemm::{
    Context, Contract, Dequantize, Format, PackOptions, PackedWeights, ScaleGranularity, reference,
};

/// Gaussian activations, or heavy-tailed ones (Student-t-like, plus four
/// outlier channels at 50× the typical size, as LLM activations have).
fn activations(n: usize, k: usize, outliers: bool, rng: &mut Rng) -> Vec<f32> {
    (0..n * k)
        .map(|i| {
            let g = rng.gauss();
            if !outliers {
                return g;
            }
            let c = i % k;
            let heavy = g / (0.2 + rng.f32().abs());
            if c % 97 == 5 && c < 4 * 97 {
                50.0 * g.signum() * (1.0 + g.abs())
            } else {
                heavy
            }
        })
        .collect()
}

/// Worst NMSE the Fast contract documents (src/contract.rs).
const FAST_NMSE_GAUSS: f64 = 3e-4;
const FAST_NMSE_OUTLIERS: f64 = 1e-3;

fn check_contracts<W: Dequantize>(w: &W, what: &str, rng: &mut Rng) {
    let k = w.k();
    let n = 3;
    for outliers in [false, true] {
        let x = activations(n, k, outliers, rng);
        let want = reference::matmul_f64(w, &x, n);
        let mag = reference::abs_products(w, &x, n);
        for contract in [Contract::Fast, Contract::Float] {
            let ks = kernels_for(w.format(), contract);
            assert!(!ks.is_empty(), "no {contract} kernel for {}", w.format());
            for kernel in ks {
                if w.has_plane_scales() && !kernel.layout.supports_plane_scales() {
                    continue;
                }
                let p = pack_for(w, kernel);
                assert_eq!(p.contract(), contract);
                let y = matmul_one_thread(&p, &x, n);
                match contract {
                    Contract::Float => {
                        assert_float_bound(&y, &want, &mag, &format!("{what} {}", kernel.name));
                    }
                    _ => {
                        let e = nmse(&y, &want);
                        let bound = if outliers {
                            FAST_NMSE_OUTLIERS
                        } else {
                            FAST_NMSE_GAUSS
                        };
                        assert!(
                            e <= bound,
                            "{what} {}: NMSE {e:.3e} > {bound:.0e} (outliers: {outliers})",
                            kernel.name
                        );
                        if std::env::var("LUTGEMM_PRINT_NMSE").is_ok() {
                            eprintln!("{what} {} outliers={outliers}: NMSE {e:.3e}", kernel.name);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn ternary_fast_and_float() {
    let mut rng = Rng(1);
    for (m, k, g) in [
        (64, 256, ScaleGranularity::PerTensor),
        (33, 1000, ScaleGranularity::PerRow),
        (70, 512, ScaleGranularity::PerBlock(128)),
        (5, 96, ScaleGranularity::PerBlock(3)),
    ] {
        let w = random_ternary(m, k, g, &mut rng);
        check_contracts(&w, "ternary", &mut rng);
    }
}

#[test]
fn int_fast_and_float() {
    let mut rng = Rng(2);
    for bits in 1..=4 {
        for (m, k, g) in [
            (64, 256, ScaleGranularity::PerBlock(32)),
            (33, 1000, ScaleGranularity::PerRow),
            (70, 512, ScaleGranularity::PerBlock(128)),
            (9, 96, ScaleGranularity::PerBlock(16)),
        ] {
            let w = random_int(m, k, bits, g, false, &mut rng);
            check_contracts(&w, &format!("int{bits}"), &mut rng);
            let w = random_int(m, k, bits, g, true, &mut rng);
            check_contracts(&w, &format!("int{bits} planes"), &mut rng);
        }
    }
}

#[test]
fn real_shape_fast_and_float() {
    let mut rng = Rng(3);
    let (m, k) = if small_shapes() {
        (256, 2560)
    } else {
        (1024, 4096)
    };
    let w = random_int(m, k, 4, ScaleGranularity::PerBlock(32), false, &mut rng);
    check_contracts(&w, "int4 g32 real", &mut rng);
    let w = random_ternary(m, k, ScaleGranularity::PerTensor, &mut rng);
    check_contracts(&w, "ternary real", &mut rng);
}

#[test]
fn fast_and_float_are_thread_invariant_and_name_their_contract() {
    let mut rng = Rng(4);
    let w = random_int(500, 384, 3, ScaleGranularity::PerBlock(64), false, &mut rng);
    let x = activations(9, 384, true, &mut rng);
    for contract in [Contract::Fast, Contract::Float] {
        let p = PackedWeights::pack(&w, &PackOptions::with_contract(contract)).unwrap();
        assert!(p.describe().contains(contract.name()), "{}", p.describe());
        assert_thread_invariant(&p, &x, 9);
    }
    // Integer sums exist only under the Exact contract.
    let p = PackedWeights::pack(&w, &PackOptions::with_contract(Contract::Fast)).unwrap();
    let e = Context::new()
        .integer_sums(&p, &vec![0i8; 384], 1, &mut vec![0; 500])
        .unwrap_err();
    assert!(e.to_string().contains("exact"), "{e}");
}

#[test]
fn every_format_has_every_contract() {
    for format in Format::ALL {
        for contract in Contract::ALL {
            assert!(
                !kernels_for(format, contract).is_empty(),
                "{format} {contract}"
            );
        }
    }
}

#[test]
fn float_bound_holds_where_huge_activations_meet_zero_bits() {
    // Per-plane sums of groups whose first activation is huge and whose
    // weights leave it out: an entry built as S − T[e] would cancel.
    let mut rng = Rng(9);
    let (m, k) = (40, 256);
    let codes: Vec<u8> = (0..m * k)
        .map(|i| if i % 4 == 0 { 0 } else { rng.below(16) as u8 })
        .collect();
    let ps: Vec<f32> = (0..m * 4).map(|_| rng.f32()).collect();
    let w = lutgemm::IntMatrix::with_plane_scales(
        m,
        k,
        4,
        ScaleGranularity::PerRow,
        codes.clone(),
        ps,
        vec![0.0; m],
    )
    .unwrap();
    let x: Vec<f32> = (0..2 * k)
        .map(|c| if c % 4 == 0 { 3e6 } else { rng.f32() * 1e-2 })
        .collect();
    let float = kernels_for(Format::Int4, Contract::Float);
    let planes: Vec<_> = float
        .iter()
        .copied()
        .filter(|k| k.layout.supports_plane_scales())
        .collect();
    assert!(!planes.is_empty());
    assert_kernels_float_bound(&w, &x, 2, &planes);
    // The same codes with one scale a row, through every Float kernel
    // (the vector-LUT's code tables too: a zero code's product is 0).
    let scales: Vec<f32> = (0..m).map(|_| 0.01 + rng.f32().abs()).collect();
    let w = lutgemm::IntMatrix::new(
        m,
        k,
        4,
        ScaleGranularity::PerRow,
        codes,
        scales,
        vec![0.0; m],
    )
    .unwrap();
    assert_kernels_float_bound(&w, &x, 2, &float);
}

/// `y = x · Wᵀ` (n tokens) through each of `kernels` within the Float
/// bound, `1e-5 · Σ|x·w|`, of the f64 oracle, element by element.
fn assert_kernels_float_bound<W: Dequantize>(
    w: &W,
    x: &[f32],
    n: usize,
    kernels: &[&'static lutgemm::KernelDesc],
) {
    let want = reference::matmul_f64(w, x, n);
    let mag = reference::abs_products(w, x, n);
    for &kernel in kernels {
        let y = matmul_one_thread(&pack_for(w, kernel), x, n);
        assert_float_bound(&y, &want, &mag, kernel.name);
    }
}

#[test]
fn ternary_float_bound_holds_where_huge_activations_meet_zero_weights() {
    // The bit-serial kernels sum the weights of 1 and of −1 as two planes:
    // a huge activation whose weights are all 0 must not enter either sum
    // (codes w + 1 with an offset would add and cancel it).
    let mut rng = Rng(10);
    let (m, k) = (40, 256);
    let codes: Vec<i8> = (0..m * k)
        .map(|i| {
            if i % 4 == 0 {
                0
            } else {
                rng.below(3) as i8 - 1
            }
        })
        .collect();
    let scales: Vec<f32> = (0..m).map(|_| 0.01 + rng.f32().abs()).collect();
    let w = lutgemm::TernaryMatrix::new(m, k, codes, scales, ScaleGranularity::PerRow).unwrap();
    let x: Vec<f32> = (0..2 * k)
        .map(|c| if c % 4 == 0 { 3e6 } else { rng.f32() * 1e-2 })
        .collect();
    let ks = kernels_for(Format::Ternary, Contract::Float);
    assert!(
        ks.iter()
            .any(|k| k.family() == lutgemm::KernelFamily::BitLutG4)
    );
    assert_kernels_float_bound(&w, &x, 2, &ks);
}
