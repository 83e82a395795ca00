//! GGUF import/export against an external oracle: the PyPI `gguf` package
//! (llama.cpp's gguf-py, whose `gguf.quants` reproduces ggml's block
//! formats byte for byte) with numpy, run through `tests/gguf/oracle.py`.
//!
//! For Q4_0, TQ1_0 and TQ2_0 the script quantizes random matrices with
//! `gguf.quants.quantize`; for Q4_K and Q2_K (dequantize-only in gguf-py)
//! it makes random blocks with finite random f16 `d` and `dmin`. For every
//! case this test checks that
//!
//! - lutgemm's dequantized weights equal `gguf.quants.dequantize`'s float32
//!   bit for bit (for Q4_0 up to the sign of zero: gguf computes
//!   `(q − 8)·d`, `−0.0` for `q = 8` and `d < 0`, lutgemm `d·q − 8·d`, `+0.0`),
//!   and `Dequantize::weight` equals them as values;
//! - `export` writes `gguf.quants.quantize`'s bytes back (Q4_0, TQ1_0,
//!   TQ2_0) and refuses Q4_K / Q2_K;
//! - the weights are within one quantization step of the float input;
//! - `PackedWeights::pack` + `Context::matmul` with every kernel available
//!   here meets its contract against numpy's `x @ W.T` in float64: Float
//!   within `1e-5 · Σ|x·w|`; Exact within an NMSE of 1e-3 (int8 activation
//!   quantization of Gaussian activations: about 1e-4) and within 2⁻²³
//!   relative of `reference::matmul_exact` (f64 epilogue; weights the
//!   multiply-add kernels scale in f32, such as Q4_0 with its f16 scales,
//!   within the fused bound of `src/epilogue.rs`); Fast within an NMSE of
//!   1e-3.
//!
//! Needs a Python with `gguf` and `numpy`, named by `LUTGEMM_GGUF_PYTHON`:
//!
//! ```text
//! python3 -m venv /work/venv-gguf && /work/venv-gguf/bin/pip install gguf numpy
//! LUTGEMM_GGUF_PYTHON=/work/venv-gguf/bin/python \
//!     cargo test --release --test gguf_oracle -- --ignored
//! ```
//!
//! The test is `#[ignore]`d so a plain `cargo test` skips it; run with
//! `--ignored` and without the variable it fails (it never passes without
//! the oracle).

mod common;

use lutgemm::format::gguf::{self, GgufType, GgufWeights};
use lutgemm::{
    Context, Contract, Dequantize, Error, GroupScaling, PackOptions, PackedWeights, kernels,
    reference,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP: &str = "set LUTGEMM_GGUF_PYTHON to a Python interpreter that has the PyPI packages \
     `gguf` and `numpy`, e.g.\n    python3 -m venv /work/venv-gguf && \
     /work/venv-gguf/bin/pip install gguf numpy\n    LUTGEMM_GGUF_PYTHON=/work/venv-gguf/bin/python \
     cargo test --release --test gguf_oracle -- --ignored";

/// Removes the scratch directory, also when the test panics.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Case {
    name: String,
    ty: GgufType,
    m: usize,
    k: usize,
    n: usize,
    quantized: bool,
}

fn read(dir: &Path, name: &str, ext: &str) -> Vec<u8> {
    let p = dir.join(format!("{name}.{ext}"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn nmse(y: &[f32], want: &[f64]) -> f64 {
    let num: f64 = y
        .iter()
        .zip(want)
        .map(|(&a, &b)| (a as f64 - b).powi(2))
        .sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    if den == 0.0 { num } else { num / den }
}

/// Runs the oracle script into a fresh scratch directory.
fn run_oracle() -> (Scratch, String, Vec<Case>) {
    let python = std::env::var_os("LUTGEMM_GGUF_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| panic!("LUTGEMM_GGUF_PYTHON is not set: {SETUP}"));
    let dir = std::env::temp_dir().join(format!("lutgemm-gguf-oracle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scratch = Scratch(dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gguf/oracle.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&scratch.0)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run LUTGEMM_GGUF_PYTHON = {}: {e}; {SETUP}",
                python.to_string_lossy()
            )
        });
    assert!(
        out.status.success(),
        "{} {} failed ({}):\n{}\n{}\n{SETUP}",
        python.to_string_lossy(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8(read(&scratch.0, "manifest", "txt")).unwrap();
    let mut header = String::new();
    let mut cases = Vec::new();
    for line in manifest.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            header = h.to_string();
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 6, "manifest line {line:?}");
        cases.push(Case {
            name: f[0].to_string(),
            ty: GgufType::from_name(f[1]).unwrap_or_else(|| panic!("type in {line:?}")),
            m: f[2].parse().unwrap(),
            k: f[3].parse().unwrap(),
            n: f[4].parse().unwrap(),
            quantized: f[5] == "quantize",
        });
    }
    (scratch, header, cases)
}

/// Appends to `errs` (capped) and returns whether `ok`.
fn check(errs: &mut Vec<String>, ok: bool, msg: impl FnOnce() -> String) -> bool {
    if !ok && errs.len() < 64 {
        errs.push(msg());
    }
    ok
}

#[test]
#[ignore = "needs LUTGEMM_GGUF_PYTHON (python with gguf and numpy); .ci/run sets it"]
fn gguf_package_oracle() {
    let (scratch, header, cases) = run_oracle();
    let dir = &scratch.0;
    eprintln!("oracle: {header}, {} cases", cases.len());
    let types: Vec<GgufType> = cases.iter().map(|c| c.ty).collect();
    for ty in GgufType::ALL {
        assert!(types.contains(&ty), "the oracle wrote no {ty} case");
    }
    let mut errs = Vec::new();
    for case in &cases {
        let Case {
            ref name,
            ty,
            m,
            k,
            n,
            quantized,
        } = *case;
        let bytes = read(dir, name, "bytes");
        let deq = f32s(&read(dir, name, "deq"));
        let x = f32s(&read(dir, name, "x"));
        let y_np = f64s(&read(dir, name, "y"));
        assert_eq!(
            (deq.len(), x.len(), y_np.len()),
            (m * k, n * k, n * m),
            "{name}: file sizes"
        );
        let w: GgufWeights = match gguf::import(ty, &bytes, m, k) {
            Ok(w) => w,
            Err(e) => {
                errs.push(format!("{name}: import failed: {e}"));
                continue;
            }
        };

        // Dequantized weights, bit for bit.
        let got = w.dequantize();
        let mut zero_signs = 0;
        for (i, (&g, &e)) in got.iter().zip(&deq).enumerate() {
            let (r, c) = (i / k, i % k);
            if g.to_bits() != e.to_bits() {
                if ty == GgufType::Q4_0 && g == 0.0 && e == 0.0 {
                    zero_signs += 1;
                } else {
                    check(&mut errs, false, || {
                        format!(
                            "{name}: dequantize()[{r}, {c}] = {g:e} ({:#010x}), gguf {e:e} ({:#010x})",
                            g.to_bits(),
                            e.to_bits()
                        )
                    });
                }
            }
            let wt = w.weight(r, c) as f32;
            check(&mut errs, wt == e, || {
                format!("{name}: weight({r}, {c}) = {wt:e}, gguf {e:e}")
            });
        }

        // Export: gguf.quants.quantize's bytes again.
        let exported = gguf::export(ty, &w);
        if ty.exportable() {
            match exported {
                Ok(b) => {
                    let first = b.iter().zip(&bytes).position(|(a, b)| a != b);
                    check(&mut errs, b == bytes, || {
                        format!(
                            "{name}: export differs from gguf's bytes (lengths {} and {}, \
                             first difference at byte {first:?})",
                            b.len(),
                            bytes.len()
                        )
                    });
                }
                Err(e) => errs.push(format!("{name}: export failed: {e}")),
            }
        } else {
            check(&mut errs, matches!(exported, Err(Error::Value(_))), || {
                format!("{name}: export to {ty} should be refused, got {exported:?}")
            });
        }

        // The float input quantized by gguf: within one step of it.
        if quantized {
            let input = f32s(&read(dir, name, "w"));
            let gl = w.group_len();
            // Q4_0 rounds half up and clips x = −max to code 15: one step;
            // the TQ types round to nearest: half a step. Plus the f16
            // rounding of d, times |code| ≤ 8: 2⁻¹¹ relative, or up to
            // 2⁻²⁵ absolute for a subnormal f16.
            let (steps, dmax) = if ty == GgufType::Q4_0 {
                (1.001, 8.0)
            } else {
                (0.501, 1.0)
            };
            let f16_half_ulp = 2f64.powi(-25);
            for (i, (&v, &q)) in input.iter().zip(&got).enumerate() {
                let (r, c) = (i / k, i % k);
                let s = w.scale(r, c / gl).abs() as f64;
                let err = (v as f64 - q as f64).abs();
                check(&mut errs, err <= steps * s + dmax * f16_half_ulp, || {
                    format!("{name}: input [{r}, {c}] = {v:e} dequantizes to {q:e}, scale {s:e}")
                });
            }
        }

        // Matmul through every kernel here, against numpy's float64 x @ W.T.
        let mag = reference::abs_products(&w, &x, n);
        let (q8, d8) = reference::quantize_activations(&x, n, k);
        let exact = reference::matmul_exact(&w, &q8, &d8, n);
        let mut kernels_run = 0;
        for contract in [Contract::Float, Contract::Exact, Contract::Fast] {
            let ks: Vec<_> = kernels::available()
                .filter(|kd| kd.supports(w.format()) && kd.contract == contract)
                .collect();
            check(&mut errs, !ks.is_empty(), || {
                format!("{name}: no {contract} kernel for {}", w.format())
            });
            for kd in ks {
                let opts = PackOptions {
                    kernel: Some(kd),
                    contract,
                    tokens: n,
                    ..PackOptions::default()
                };
                let packed = match PackedWeights::pack(&w, &opts) {
                    Ok(p) => p,
                    Err(e) => {
                        errs.push(format!("{name} {}: pack failed: {e}", kd.name));
                        continue;
                    }
                };
                let mut y = vec![f32::NAN; n * m];
                if let Err(e) = Context::new().matmul(&packed, &x, n, &mut y) {
                    errs.push(format!("{name} {}: matmul failed: {e}", kd.name));
                    continue;
                }
                kernels_run += 1;
                match contract {
                    Contract::Float => {
                        for (i, (&g, &e)) in y.iter().zip(&y_np).enumerate() {
                            let tol = 1e-5 * mag[i];
                            check(&mut errs, (g as f64 - e).abs() <= tol, || {
                                format!(
                                    "{name} {}: y[{i}] = {g:e}, numpy {e:e}, bound {tol:e}",
                                    kd.name
                                )
                            });
                        }
                    }
                    _ => {
                        let e = nmse(&y, &y_np);
                        check(&mut errs, e <= 1e-3, || {
                            format!("{name} {}: NMSE {e:.3e} against numpy > 1e-3", kd.name)
                        });
                        if std::env::var_os("LUTGEMM_PRINT_NMSE").is_some() {
                            eprintln!("{name} {}: NMSE {e:.3e}", kd.name);
                        }
                    }
                }
                if contract == Contract::Exact && packed.group_scaling() != GroupScaling::Epilogue {
                    // Fused group scaling (f32, src/epilogue.rs): its own
                    // bound, relative to Σ|s·isum| + |o·qsum|.
                    common::check_fused(&w, &q8, &d8, n, &y, kd.name);
                } else if contract == Contract::Exact {
                    for (i, (&g, &e)) in y.iter().zip(&exact).enumerate() {
                        let tol = e.abs() * f32::EPSILON as f64;
                        check(&mut errs, (g as f64 - e).abs() <= tol, || {
                            format!(
                                "{name} {}: y[{i}] = {g:e}, reference::matmul_exact {e:e}",
                                kd.name
                            )
                        });
                    }
                }
            }
        }
        eprintln!(
            "{name}: {ty} {m}×{k}, {} source, {kernels_run} kernels{}",
            if quantized {
                "gguf.quants.quantize"
            } else {
                "random-block"
            },
            if zero_signs > 0 {
                format!(", {zero_signs} zeros of opposite sign (Q4_0 (q − 8)·d)")
            } else {
                String::new()
            }
        );
    }
    assert!(
        errs.is_empty(),
        "{} mismatches against the gguf oracle:\n{}",
        errs.len(),
        errs.join("\n")
    );
}
