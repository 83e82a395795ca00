//! One output row, as a text line and as a JSON object.

use crate::limits::{Bound, Limits, Work};
use lutgemm::Isa;
use std::fs::File;
use std::io::Write;

/// Where rows go (stdout, `--json`, the chart's list) and the run's
/// counts.
pub struct Output {
    json: Option<File>,
    pub limits: Option<Limits>,
    plot: bool,
    /// Timed rows, kept for `--plot`.
    pub plotted: Vec<Row>,
    /// Rows verified and timed.
    pub timed: usize,
    /// Verification or packing failures.
    pub failures: usize,
}

impl Output {
    /// Exits with status 2 if the JSON file cannot be created.
    pub fn new(json: Option<&str>, limits: Option<Limits>, plot: bool) -> Output {
        let json = json.map(|p| {
            File::create(p).unwrap_or_else(|e| {
                eprintln!("bench: cannot write {p}: {e}");
                std::process::exit(2)
            })
        });
        Output {
            json,
            limits,
            plot,
            plotted: Vec::new(),
            timed: 0,
            failures: 0,
        }
    }

    /// Fills in the row's roofline, prints it, writes it, counts it.
    pub fn emit(&mut self, mut row: Row) {
        row.set_bound(self.limits.as_ref());
        row.print();
        if let Some(f) = self.json.as_mut() {
            writeln!(f, "{}", row.json()).expect("write json");
        }
        if row.verified.is_err() {
            self.failures += 1;
        }
        if row.ns.is_some() {
            self.timed += 1;
            if self.plot {
                self.plotted.push(row);
            }
        }
    }

    /// Counts a failure that has no row (a packing error).
    pub fn fail(&mut self) {
        self.failures += 1;
    }
}

/// One output row (a kernel, or the dense baseline, at one shape and n).
pub struct Row {
    pub kernel: String,
    /// Kernel family name (`mad`, `lut_g2`, …), `dense` for the baseline.
    pub family: &'static str,
    pub isa: &'static str,
    pub format: &'static str,
    pub group: usize,
    pub group_label: String,
    pub contract: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub threads: usize,
    /// Median time; `None` when verification failed (not timed).
    pub ns: Option<f64>,
    pub weight_bytes: usize,
    pub vs_mad: Option<f64>,
    pub vs_dense: Option<f64>,
    pub selected: bool,
    /// `Err(what differed)` when verification failed.
    pub verified: Result<(), String>,
    /// What bounds its compute (`None`: no roofline).
    pub work: Option<Work>,
    /// The ISA whose peaks bound it (`Scalar`: the best measured level).
    pub limits_isa: Isa,
    /// Its roofline, once [`Row::set_bound`] ran with measured limits.
    pub bound: Option<Bound>,
    /// `(model, layers)` for the rows of `--model`.
    pub layer: Option<(&'static str, String)>,
}

pub const HEADER: &str = "kernel                   isa    format  group  contract      m      k    n   median_us    GOP/s    wGB/s  vs_mad vs_dense limit  %lim  %mad";

impl Row {
    pub fn gops(&self) -> Option<f64> {
        self.ns.map(|t| self.ops() / t)
    }

    /// 2·m·n·k.
    pub fn ops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }

    /// Bytes one call moves at least: packed weights, f32 activations in,
    /// f32 results out.
    pub fn bytes(&self) -> f64 {
        (self.weight_bytes + 4 * self.n * (self.k + self.m)) as f64
    }

    /// Arithmetic intensity, ops per byte moved.
    pub fn intensity(&self) -> f64 {
        self.ops() / self.bytes()
    }

    fn weight_gbps(&self) -> Option<f64> {
        self.ns.map(|t| self.weight_bytes as f64 / t)
    }

    /// Achieved rate over what the binding limit allows.
    pub fn of_limit(&self) -> Option<f64> {
        Some(self.gops()? * 1e9 / self.bound.as_ref()?.attainable)
    }

    /// Achieved rate over the int8 multiply-add peak of its ISA.
    pub fn of_mad_peak(&self) -> Option<f64> {
        Some(self.gops()? * 1e9 / self.bound.as_ref()?.mad_peak?)
    }

    /// Fills in the roofline from `limits`.
    pub fn set_bound(&mut self, limits: Option<&Limits>) {
        self.bound = limits.zip(self.work).and_then(|(l, work)| {
            l.bound(
                work,
                self.limits_isa,
                self.threads,
                self.ops(),
                self.bytes(),
                self.weight_bytes,
            )
        });
    }

    pub fn print(&self) {
        let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
        let num = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0}%", 100.0 * v));
        println!(
            "{:<24} {:<6} {:<7} {:>6} {:<8} {:>6} {:>6} {:>4} {:>11} {:>8} {:>8} {:>7} {:>8} {:<5} {:>4} {:>5}{}",
            self.kernel,
            self.isa,
            self.format,
            self.group_label,
            self.contract,
            self.m,
            self.k,
            self.n,
            num(self.ns.map(|t| t / 1e3), 1),
            num(self.gops(), 1),
            num(self.weight_gbps(), 2),
            ratio(self.vs_mad),
            ratio(self.vs_dense),
            self.bound.as_ref().map_or("-", |b| b.limit),
            pct(self.of_limit()),
            pct(self.of_mad_peak()),
            if self.selected { "  <- selected" } else { "" }
        );
    }

    pub fn json(&self) -> String {
        let opt = |v: Option<f64>, p: usize| v.map_or("null".to_string(), |v| format!("{v:.p$}"));
        let error = match &self.verified {
            Ok(()) => String::new(),
            Err(e) => format!(",\"error\":{}", json_string(e)),
        };
        let layer = match &self.layer {
            Some((model, layer)) => format!(",\"model\":\"{model}\",\"layer\":\"{layer}\""),
            None => String::new(),
        };
        let bound = self.bound.as_ref();
        format!(
            "{{\"format\":\"{}\",\"group\":{},\"group_label\":{},\"contract\":\"{}\",\"kernel\":\"{}\",\"isa\":\"{}\",\
             \"m\":{},\"k\":{},\"n\":{},\"threads\":{},\"median_ns\":{},\"gops\":{},\
             \"weight_gbps\":{},\"weight_bytes\":{},\"speedup_vs_mad\":{},\
             \"speedup_vs_dense_f32\":{},\"selected\":{},\"verified\":{},\
             \"bytes\":{},\"intensity\":{:.4},\"limit\":{},\"limit_gops\":{},\
             \"fraction_of_limit\":{},\"mad_peak_gops\":{},\"fraction_of_mad_peak\":{}{}{}}}",
            self.format,
            self.group,
            json_string(&self.group_label),
            self.contract,
            self.kernel,
            self.isa,
            self.m,
            self.k,
            self.n,
            self.threads,
            opt(self.ns, 0),
            opt(self.gops(), 3),
            opt(self.weight_gbps(), 3),
            self.weight_bytes,
            opt(self.vs_mad, 4),
            opt(self.vs_dense, 4),
            self.selected,
            self.verified.is_ok(),
            self.bytes(),
            self.intensity(),
            bound.map_or("null".to_string(), |b| json_string(b.limit)),
            opt(bound.map(|b| b.attainable / 1e9), 3),
            opt(self.of_limit(), 4),
            opt(bound.and_then(|b| b.mad_peak).map(|p| p / 1e9), 3),
            opt(self.of_mad_peak(), 4),
            layer,
            error
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
