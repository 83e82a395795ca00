//! `--model NAME`: every linear layer of one transformer block at its real
//! shape (q, k, v, o with grouped-query k/v widths; the gated MLP's gate,
//! up and down), timed with the kernel the library selects (or the one
//! `--isa` / `--kernel` force), summed over the block and scaled by the
//! layer count: the time of one forward's matmuls and the tokens/s they
//! alone would allow, for one decode token (n = 1) and a 256-token prefill
//! (n = 256; `--n` overrides), under the Exact contract unless
//! `--contract` says otherwise. Attention itself, norms, the embedding and
//! the LM head are not included. As in the shape rows, a portable (scalar)
//! kernel is skipped at n > 8 unless `--isa scalar` is given (there are no
//! SIMD ternary Fast or Float kernels: those fall back to it).
//!
//! Weights: ternary with one scale per tensor for the BitNet models (as
//! trained); for Llama-3-8B int4 in groups of 32 (Q4_0-like), int2 in
//! groups of 64, and ternary for comparison. All random (the times do not
//! depend on the values). Each distinct shape is packed with
//! `PackOptions::tokens = n`, so selection sees the same token count as
//! the call, and each distinct (shape, kernel) is verified once on 2 tokens
//! before any timing. The dense f32 baseline runs at n ≤ 8 only (a
//! 256-token f32 GEMM over a Llama-3-8B block takes seconds per call).

use crate::common::{self, Case};
use crate::report::{HEADER, Output};
use crate::verify::{Oracle, VERIFY_N, verify};
use crate::{Args, dense_row, group_label, kernel_row, median_time};
use lutgemm::{Context, Format, Isa, KernelFamily, PackOptions, PackedWeights};
use std::collections::HashMap;

/// Token counts with `--model` unless `--n` is given.
pub const NS: &[usize] = &[1, 256];
/// The dense baseline's largest n with `--model`.
const DENSE_MAX_N: usize = 8;

/// A decoder-only transformer's linear-layer geometry (from the model's
/// published `config.json`).
pub struct Model {
    pub name: &'static str,
    /// Where the numbers come from.
    pub source: &'static str,
    pub hidden: usize,
    pub ffn: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Weight formats benchmarked.
    pub cases: &'static [Case],
}

pub const MODELS: &[Model] = &[
    Model {
        name: "bitnet-2b",
        source: "microsoft/bitnet-b1.58-2B-4T",
        hidden: 2560,
        ffn: 6912,
        layers: 30,
        heads: 20,
        kv_heads: 5,
        head_dim: 128,
        cases: &[Case::new(Format::Ternary, 0)],
    },
    Model {
        name: "bitnet-3b",
        source: "1bitLLM/bitnet_b1_58-3B",
        hidden: 3200,
        ffn: 8640,
        layers: 26,
        heads: 32,
        kv_heads: 32,
        head_dim: 100,
        cases: &[Case::new(Format::Ternary, 0)],
    },
    Model {
        name: "llama3-8b",
        source: "meta-llama/Meta-Llama-3-8B",
        hidden: 4096,
        ffn: 14336,
        layers: 32,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        cases: &[
            Case::new(Format::Int4, 32),
            Case::new(Format::Int2, 64),
            Case::new(Format::Ternary, 0),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static Model> {
    MODELS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
}

pub fn names() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

/// One distinct (m, k) of a block: the layers that have it.
struct Shape {
    layers: String,
    count: usize,
    m: usize,
    k: usize,
}

impl Model {
    /// The block's linear layers as (name, m = out features, k = in
    /// features).
    fn linears(&self) -> [(&'static str, usize, usize); 7] {
        let (h, q, kv) = (
            self.hidden,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
        );
        [
            ("q", q, h),
            ("k", kv, h),
            ("v", kv, h),
            ("o", h, q),
            ("gate", self.ffn, h),
            ("up", self.ffn, h),
            ("down", h, self.ffn),
        ]
    }

    fn shapes(&self) -> Vec<Shape> {
        let mut out: Vec<Shape> = Vec::new();
        for (name, m, k) in self.linears() {
            match out.iter_mut().find(|s| (s.m, s.k) == (m, k)) {
                Some(s) => {
                    s.layers.push(',');
                    s.layers.push_str(name);
                    s.count += 1;
                }
                None => out.push(Shape {
                    layers: name.to_string(),
                    count: 1,
                    m,
                    k,
                }),
            }
        }
        out
    }
}

/// Prints the per-token figures of one block's total time at each n
/// (`None`: some layer was not timed).
fn summary(model: &Model, what: &str, block_ns: &[(usize, Option<f64>)]) {
    for &(n, t) in block_ns {
        match t {
            Some(t) => {
                let forward = t * model.layers as f64;
                println!(
                    "   {what} n = {n}: block {:.3} ms, {} blocks {:.2} ms per forward of {n} \
                     token(s): {:.3} ms/token, {:.1} tokens/s",
                    t / 1e6,
                    model.layers,
                    forward / 1e6,
                    forward / 1e6 / n as f64,
                    n as f64 * 1e9 / forward
                );
            }
            None => println!("   {what} n = {n}: incomplete (see the lines above)"),
        }
    }
}

/// Runs `--model`.
pub fn run(
    args: &Args,
    model: &'static Model,
    ctx: &mut Context,
    portable: &mut Context,
    out: &mut Output,
) {
    let shapes = model.shapes();
    let explicit_scalar = args.isas.as_ref().is_some_and(|v| v.contains(&Isa::Scalar));
    println!(
        "\n== model {} ({}): hidden {}, ffn {}, {} heads × {} (kv heads {}), {} blocks; per block {}",
        model.name,
        model.source,
        model.hidden,
        model.ffn,
        model.heads,
        model.head_dim,
        model.kv_heads,
        model.layers,
        shapes
            .iter()
            .map(|s| format!("{} {}x{}", s.layers, s.m, s.k))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Dense f32 baseline time per (shape index, n).
    let mut dense_ns: HashMap<(usize, usize), f64> = HashMap::new();
    let dense_n: Vec<usize> = args
        .ns
        .iter()
        .copied()
        .filter(|&n| n <= DENSE_MAX_N)
        .collect();
    if args.dense && !dense_n.is_empty() {
        println!("-- dense f32 baseline (1 thread)");
        println!("{HEADER}");
        for (si, s) in shapes.iter().enumerate() {
            let w = common::values(s.m * s.k, 42);
            for &n in &dense_n {
                let mut row = dense_row(&w, s.m, s.k, n, args.time);
                row.layer = Some((model.name, s.layers.clone()));
                if let Some(t) = row.ns {
                    dense_ns.insert((si, n), t);
                }
                out.emit(row);
            }
        }
        let totals: Vec<_> = dense_n
            .iter()
            .map(|&n| {
                (
                    n,
                    block_total(&shapes, |si| dense_ns.get(&(si, n)).copied()),
                )
            })
            .collect();
        summary(model, "dense f32", &totals);
    }
    // A forced ISA or family (a list: each), else the library's selection.
    let isas: Vec<_> = match &args.isas {
        Some(v) => v.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let families: Vec<Option<KernelFamily>> = if args.families == KernelFamily::ALL {
        vec![None]
    } else {
        args.families.iter().copied().map(Some).collect()
    };
    for case in model.cases {
        let weights: Vec<_> = shapes.iter().map(|s| case.weights(s.m, s.k)).collect();
        let mut oracles: Vec<Oracle> = weights.iter().map(|w| Oracle::new(w.as_dyn())).collect();
        let mut verified: HashMap<(usize, &'static str), Result<(), String>> = HashMap::new();
        for &contract in &args.contracts {
            for &isa in &isas {
                for &family in &families {
                    let forced: String = [
                        isa.map(|i| format!(" isa {i}")),
                        family.map(|f| format!(" family {f}")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    println!(
                        "-- {} {case} {contract}{}",
                        model.name,
                        if forced.is_empty() {
                            " (selected kernels)".to_string()
                        } else {
                            forced
                        }
                    );
                    println!("{HEADER}");
                    let opts = |n| PackOptions {
                        family,
                        isa,
                        contract,
                        tokens: n,
                        ..PackOptions::default()
                    };
                    let mut totals = Vec::new();
                    let mut times: HashMap<usize, f64> = HashMap::new();
                    for &n in &args.ns {
                        times.clear();
                        for (si, s) in shapes.iter().enumerate() {
                            let w = weights[si].as_dyn();
                            let p = match PackedWeights::pack(w, &opts(n)) {
                                Ok(p) => p,
                                Err(e) => {
                                    println!(
                                        "   {} {}x{} n={n}: not packed: {e}",
                                        s.layers, s.m, s.k
                                    );
                                    continue;
                                }
                            };
                            let kd = p.kernel();
                            if !explicit_scalar && !common::runs_by_default(kd.isa, n) {
                                println!(
                                    "   {} {}x{} n={n}: skipped, selection gave the portable \
                                     kernel {} (skipped at n > {}; give --isa scalar)",
                                    s.layers,
                                    s.m,
                                    s.k,
                                    kd.name,
                                    common::SCALAR_MAX_N
                                );
                                continue;
                            }
                            let check = verified
                                .entry((si, kd.name))
                                .or_insert_with(|| {
                                    verify(ctx, portable, &p, &mut oracles[si], VERIFY_N)
                                })
                                .clone();
                            let ns = match &check {
                                Ok(()) => {
                                    let x = common::values(n * s.k, 7 + n as u64);
                                    let mut y = vec![0f32; n * s.m];
                                    let t = median_time(args.time, || {
                                        ctx.matmul(&p, &x, n, &mut y).expect("matmul");
                                    });
                                    Some(t.as_secs_f64() * 1e9)
                                }
                                Err(e) => {
                                    println!(
                                        "FAIL {} ({} {} {contract}) {}x{}, verified on {VERIFY_N} \
                                         token(s): {e}",
                                        kd.name,
                                        case.format,
                                        group_label(case),
                                        s.m,
                                        s.k
                                    );
                                    None
                                }
                            };
                            if let Some(t) = ns {
                                times.insert(si, t);
                            }
                            let mut row = kernel_row(&p, case, n, args.threads, ns, check);
                            row.vs_dense = ns.and_then(|t| dense_ns.get(&(si, n)).map(|d| d / t));
                            row.layer = Some((model.name, s.layers.clone()));
                            out.emit(row);
                        }
                        totals.push((n, block_total(&shapes, |si| times.get(&si).copied())));
                    }
                    summary(model, "matmuls", &totals);
                }
            }
        }
    }
}

/// Σ count × time over the block's shapes (`None` if one is missing).
fn block_total(shapes: &[Shape], time: impl Fn(usize) -> Option<f64>) -> Option<f64> {
    shapes
        .iter()
        .enumerate()
        .map(|(si, s)| time(si).map(|t| s.count as f64 * t))
        .sum()
}
