//! Bad inputs give clear errors, never panics or UB.

use lutgemm::{
    Context, Error, Isa, KernelFamily, PackOptions, PackedTernary, ScaleGranularity, TernaryMatrix,
};

fn assert_length(e: &Error, want_expected: usize, want_got: usize) {
    match e {
        Error::Length { expected, got, .. } => {
            assert_eq!((*expected, *got), (want_expected, want_got), "{e}")
        }
        other => panic!("expected a length error, got {other}"),
    }
}

fn small() -> PackedTernary {
    let w = TernaryMatrix::new(4, 8, vec![1; 32], vec![1.0], ScaleGranularity::PerTensor).unwrap();
    PackedTernary::pack(&w, &PackOptions::default()).unwrap()
}

#[test]
fn wrong_lengths() {
    let p = small();
    let mut ctx = Context::new();
    let mut y = vec![0f32; 4];
    let e = ctx.matmul(&p, &[0f32; 7], 1, &mut y).unwrap_err();
    assert_length(&e, 8, 7);
    assert!(e.to_string().contains("expected 8"), "{e}");
    let e = ctx.matmul(&p, &[0f32; 8], 1, &mut y[..3]).unwrap_err();
    assert_length(&e, 4, 3);
    let e = ctx
        .matmul_i8(&p, &[0i8; 8], &[1.0, 1.0], 1, &mut y)
        .unwrap_err();
    assert_length(&e, 1, 2);
    let mut sums = vec![0i32; 3];
    let e = ctx.integer_sums(&p, &[0i8; 8], 1, &mut sums).unwrap_err();
    assert_length(&e, 4, 3);
}

#[test]
fn zero_sizes() {
    let p = small();
    let mut ctx = Context::new();
    let e = ctx.matmul(&p, &[0f32; 0], 0, &mut []).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
    for (m, k) in [(0, 8), (4, 0), (0, 0)] {
        let e =
            TernaryMatrix::new(m, k, vec![], vec![1.0], ScaleGranularity::PerTensor).unwrap_err();
        assert!(matches!(e, Error::Shape(_)), "{e}");
        let e = TernaryMatrix::quantize_f32(&[], m, k, ScaleGranularity::PerRow).unwrap_err();
        assert!(matches!(e, Error::Shape(_)), "{e}");
    }
}

#[test]
fn huge_n_is_an_error_not_an_overflow() {
    let p = small();
    let e = Context::new()
        .matmul(&p, &[0f32; 8], usize::MAX / 2, &mut [0f32; 4])
        .unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
}

#[test]
fn block_must_divide_k() {
    let e = TernaryMatrix::new(
        2,
        300,
        vec![0; 600],
        vec![1.0; 4],
        ScaleGranularity::PerBlock(256),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("not a multiple of the scale block size 256"),
        "{e}"
    );
    let e =
        TernaryMatrix::quantize_f32(&[0.0; 10], 1, 10, ScaleGranularity::PerBlock(0)).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
}

#[test]
fn non_finite_activations_are_rejected() {
    let p = small();
    let mut ctx = Context::new();
    let mut y = vec![0f32; 8];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = vec![0.5f32; 16];
        x[11] = bad;
        let e = ctx.matmul(&p, &x, 2, &mut y).unwrap_err();
        assert_eq!(e, Error::NonFinite { token: 1, index: 3 }, "{bad}");
    }
    let xh = vec![half::f16::NAN; 8];
    assert!(matches!(
        ctx.matmul(&p, &xh, 1, &mut y[..4]),
        Err(Error::NonFinite { token: 0, index: 0 })
    ));
    let e = ctx
        .matmul_i8(&p, &[1i8; 8], &[f32::NAN], 1, &mut y[..4])
        .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
}

#[test]
fn int8_minus_128_is_rejected() {
    let p = small();
    let mut ctx = Context::new();
    let mut q = vec![3i8; 8];
    q[5] = i8::MIN;
    let e = ctx
        .matmul_i8(&p, &q, &[1.0], 1, &mut [0f32; 4])
        .unwrap_err();
    assert!(e.to_string().contains("-128 at token 0, index 5"), "{e}");
}

#[test]
fn bad_codes_and_scales() {
    let e = TernaryMatrix::new(1, 3, vec![0, 1, -2], vec![1.0], ScaleGranularity::PerTensor)
        .unwrap_err();
    assert!(e.to_string().contains("row 0, column 2"), "{e}");
    let e = TernaryMatrix::new(
        1,
        3,
        vec![0; 3],
        vec![f32::INFINITY],
        ScaleGranularity::PerTensor,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Value(_)), "{e}");
    let e = TernaryMatrix::new(2, 3, vec![0; 6], vec![1.0], ScaleGranularity::PerRow).unwrap_err();
    assert_length(&e, 2, 1);
}

#[test]
fn unavailable_isa_or_family() {
    let w = TernaryMatrix::new(4, 8, vec![1; 32], vec![1.0], ScaleGranularity::PerTensor).unwrap();
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let e = PackedTernary::pack(
            &w,
            &PackOptions {
                isa: Some(isa),
                ..PackOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unavailable(_)), "{e}");
    }
    if !Isa::Avx512.is_available() {
        return;
    }
    // A context cannot run weights packed for AVX-512 on AVX2 (other layout).
    let p = PackedTernary::pack(
        &w,
        &PackOptions {
            family: Some(KernelFamily::MultiplyAdd),
            isa: Some(Isa::Avx512),
            ..PackOptions::default()
        },
    )
    .unwrap();
    let mut ctx = Context::new();
    ctx.set_isa(Some(Isa::Avx2));
    let e = ctx.matmul(&p, &[1f32; 8], 1, &mut [0f32; 4]).unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e}");
    ctx.set_isa(Some(Isa::Scalar));
    ctx.matmul(&p, &[1f32; 8], 1, &mut [0f32; 4]).unwrap();
    assert_eq!(ctx.last_kernel().unwrap().isa, Isa::Scalar);
}

#[test]
fn huge_k_is_rejected_not_overflowed() {
    let k = lutgemm::format::ternary::MAX_K + 1;
    let e = TernaryMatrix::new(1, k, vec![], vec![1.0], ScaleGranularity::PerTensor).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
}

#[test]
fn non_finite_reports_the_first_token_for_any_thread_count() {
    let w = TernaryMatrix::new(
        16,
        64,
        vec![1; 1024],
        vec![1.0],
        ScaleGranularity::PerTensor,
    )
    .unwrap();
    for contract in lutgemm::Contract::ALL {
        let p = PackedTernary::pack(&w, &PackOptions::with_contract(contract)).unwrap();
        let mut x = vec![0.5f32; 64 * 64];
        x[30 * 64 + 7] = f32::NAN;
        x[33 * 64 + 1] = f32::INFINITY;
        let mut y = vec![0f32; 64 * 16];
        for threads in [1, 2, 3] {
            let mut ctx = Context::with_threads(threads).unwrap();
            for _ in 0..30 {
                let e = ctx.matmul(&p, &x, 64, &mut y).unwrap_err();
                assert_eq!(
                    e,
                    Error::NonFinite {
                        token: 30,
                        index: 7
                    },
                    "{contract} {threads}"
                );
            }
        }
    }
}

#[test]
fn scale_count_of_a_zero_block_is_an_error_not_a_panic() {
    let e = ScaleGranularity::PerBlock(0)
        .scale_count(4, 64)
        .unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
    assert!(ScaleGranularity::PerBlock(5).scale_count(4, 64).is_err());
    assert_eq!(ScaleGranularity::PerBlock(16).scale_count(4, 64), Ok(16));
}

#[test]
fn representable_results_never_overflow_in_the_epilogue() {
    // 1 × 4 all +1 weights with scale 1e38, x = 1e-3: the answer is 4e35.
    let w = TernaryMatrix::new(1, 4, vec![1; 4], vec![1e38], ScaleGranularity::PerTensor).unwrap();
    let p = PackedTernary::pack(&w, &PackOptions::default()).unwrap();
    let mut y = [0f32];
    Context::new().matmul(&p, &[1e-3f32; 4], 1, &mut y).unwrap();
    assert!((y[0] / 4e35 - 1.0).abs() < 1e-5, "{}", y[0]);
    // Huge block scales of opposite sign that cancel: 0, not NaN.
    let w = TernaryMatrix::new(
        1,
        8,
        vec![1; 8],
        vec![3e38, -3e38],
        ScaleGranularity::PerBlock(4),
    )
    .unwrap();
    let p = PackedTernary::pack(&w, &PackOptions::default()).unwrap();
    Context::new().matmul(&p, &[1f32; 8], 1, &mut y).unwrap();
    assert_eq!(y[0], 0.0);
    // A result beyond f32 is ±inf, as any f32 rounding would give.
    let w = TernaryMatrix::new(1, 8, vec![1; 8], vec![3e38], ScaleGranularity::PerTensor).unwrap();
    let p = PackedTernary::pack(&w, &PackOptions::default()).unwrap();
    Context::new().matmul(&p, &[1f32; 8], 1, &mut y).unwrap();
    assert_eq!(y[0], f32::INFINITY);
    // Zero, -0.0 and negative scales and factors are plain arithmetic.
    let w = TernaryMatrix::new(
        1,
        8,
        vec![1; 8],
        vec![-0.0, -2.0],
        ScaleGranularity::PerBlock(4),
    )
    .unwrap();
    let p = PackedTernary::pack(&w, &PackOptions::default()).unwrap();
    Context::new()
        .matmul_i8(&p, &[1i8; 8], &[-0.5], 1, &mut y)
        .unwrap();
    assert_eq!(y[0], 4.0);
}
