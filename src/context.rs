//! The Rust front door: a [`Context`] owns a thread choice and a workspace
//! and runs [`crate::exec`]'s prepare and compute phases over it, batch by
//! batch.

use crate::activation::{ActivationElem, check_int8};
use crate::aligned::AlignedBuf;
use crate::contract::Contract;
use crate::error::{Error, Result, check_len};
use crate::exec::{self, FloatSlice, Input, Sink, Workspace};
use crate::isa::Isa;
use crate::kernels::{KernelDesc, portable};
use crate::packed::PackedWeights;
use crate::plan::{Output, Plan};
use crate::team::{Team, Workers};

/// Reusable per-caller state: threading choice, forced ISA and the
/// workspace. Repeated calls with shapes no larger than before allocate
/// nothing. A context is used by one call at a time (`&mut self`); give each
/// caller thread its own.
pub struct Context {
    threads: usize,
    team: Option<Team>,
    isa: Option<Isa>,
    last: Option<&'static KernelDesc>,
    workspace: AlignedBuf,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// A context running on rayon's global pool.
    pub fn new() -> Context {
        Context {
            threads: 0,
            team: None,
            isa: None,
            last: None,
            workspace: AlignedBuf::default(),
        }
    }

    /// A context with its own thread count: `0` uses rayon's global pool,
    /// `1` runs on the calling thread (no threads at all), `n > 1` starts
    /// `n − 1` worker threads once, here; the calling thread is the n-th.
    ///
    /// The workers spin for about 2 ms after each call before they sleep,
    /// so that back-to-back calls start at once (a sleeping worker took
    /// tens of µs to wake, as long as a whole 4096 × 4096 GEMV at two
    /// threads); they end when the context is dropped.
    pub fn with_threads(threads: usize) -> Result<Context> {
        let mut c = Context::new();
        c.threads = threads;
        if threads > 1 {
            c.team = Some(
                Team::new(threads)
                    .map_err(|e| Error::Unavailable(format!("cannot start threads: {e}")))?,
            );
        }
        Ok(c)
    }

    /// Forces the ISA for this context's calls. The packed weights' own ISA
    /// and `Isa::Scalar` (the portable kernel on the same layout) are
    /// accepted; `None` runs the packed kernel.
    pub fn set_isa(&mut self, isa: Option<Isa>) {
        self.isa = isa;
    }

    /// The kernel that ran in the last successful call.
    pub fn last_kernel(&self) -> Option<&'static KernelDesc> {
        self.last
    }

    /// `y = x · Wᵀ`: `x` is n × k row-major f32 (or f16/bf16), `y` is n × m
    /// row-major. Under the Exact contract the activations are quantized
    /// per token as [`crate::activation`] documents; under Fast and Float
    /// they are used as f32. NaN or ±Inf activations are an error naming
    /// the first bad token (lowest index) and position. On `Err`, `y` may
    /// be partly written.
    pub fn matmul<T: ActivationElem>(
        &mut self,
        w: &PackedWeights,
        x: &[T],
        n: usize,
        y: &mut [f32],
    ) -> Result<()> {
        check_call(w, n)?;
        check_len("x (n × k activations)", n * w.k(), x.len())?;
        check_len("y (n × m outputs)", n * w.m(), y.len())?;
        let sink = Sink::Float {
            y: y.as_mut_ptr(),
            ldy: w.m(),
        };
        self.run(w, n, Input::Float(&FloatSlice(x)), sink)
    }

    /// `y = x · Wᵀ` from int8 activations quantized by the caller: `q` is
    /// n × k with values in [−127, 127], `d` holds one finite factor per
    /// token (`x ≈ d_t · q`; 0 gives zeros, a negative `d` flips the sign).
    /// Fast and Float weights use `x = d_t · q` as f32.
    pub fn matmul_i8(
        &mut self,
        w: &PackedWeights,
        q: &[i8],
        d: &[f32],
        n: usize,
        y: &mut [f32],
    ) -> Result<()> {
        check_call(w, n)?;
        check_len("q (n × k int8 activations)", n * w.k(), q.len())?;
        check_len("d (per-token scales)", n, d.len())?;
        check_len("y (n × m outputs)", n * w.m(), y.len())?;
        check_int8(q, w.k())?;
        if let Some(t) = d.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { token: t, index: 0 });
        }
        let sink = Sink::Float {
            y: y.as_mut_ptr(),
            ldy: w.m(),
        };
        self.run(w, n, Input::Int8(q, d), sink)
    }

    /// The exact integer sums `Σ_{c ∈ group g} q[t,c] · code[r,c]` that the
    /// kernel produces (per bit plane when the weights carry plane
    /// scales), n × m × blocks_per_row × planes_out: the part of the Exact
    /// contract that must equal `reference::integer_sums` bit for bit.
    /// Only for weights packed under the Exact contract.
    pub fn integer_sums(
        &mut self,
        w: &PackedWeights,
        q: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<()> {
        check_call(w, n)?;
        if w.contract() != Contract::Exact {
            return Err(Error::Unavailable(format!(
                "integer sums exist only under the exact contract; these weights are packed for {}",
                w.contract()
            )));
        }
        check_len("q (n × k int8 activations)", n * w.k(), q.len())?;
        check_len(
            "out (n × m × groups × planes sums)",
            n * w.m() * w.blocks_per_row() * w.planes_out(),
            out.len(),
        )?;
        check_int8(q, w.k())?;
        self.run(w, n, Input::Int8(q, &[]), Sink::Ints(out.as_mut_ptr()))
    }

    fn kernel_for(&self, w: &PackedWeights) -> Result<&'static KernelDesc> {
        let k = w.kernel();
        match self.isa {
            None => Ok(k),
            Some(isa) if isa == k.isa => Ok(k),
            Some(Isa::Scalar) => Ok(portable::kernel_for(k.layout, w.format(), k.contract)),
            Some(isa) => Err(Error::Unavailable(format!(
                "weights are packed for {} ({}); a context can only force that ISA or scalar \
                 (repack with PackOptions::isa = Some(Isa::{isa:?}))",
                k.name, k.isa
            ))),
        }
    }

    /// Runs a call whose lengths the caller checked: `sink` must cover `n`
    /// tokens (the C ABI passes its own `ldy`).
    pub(crate) fn run(
        &mut self,
        w: &PackedWeights,
        n: usize,
        input: Input,
        sink: Sink,
    ) -> Result<()> {
        let workers = match (&self.team, self.threads) {
            (Some(team), _) => Workers::Team(team),
            (None, 0) => Workers::Rayon(rayon::current_num_threads()),
            (None, _) => Workers::Serial,
        };
        let output = match sink {
            Sink::Ints(_) => Output::IntegerSums,
            Sink::Float { .. } => Output::Floats,
        };
        let plan = Plan::new(self.kernel_for(w)?, w, n, workers.threads(), false, output);
        // Grows to the largest plan seen, never shrinks.
        self.workspace.resize(plan.workspace_bytes);
        let ws = Workspace::new(self.workspace.bytes_mut(), &plan)?;
        // SAFETY: `sink` covers n tokens (lengths checked by the entry
        // points).
        let result = unsafe { exec::run_batches(workers, &plan, w, &input, &ws, n, sink) };
        if result.is_ok() {
            self.last = Some(plan.kernel);
        }
        result
    }
}

fn check_call(w: &PackedWeights, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Shape(format!(
            "n (tokens) must be at least 1 for a {}×{} matrix",
            w.m(),
            w.k()
        )));
    }
    // Every n-sized length a call computes (x, y, integer sums), in bytes.
    let fits = |cols: usize| n.checked_mul(cols).and_then(|v| v.checked_mul(4)).is_some();
    if !fits(w.k()) || !fits(w.m() * w.blocks_per_row() * w.planes_out()) {
        return Err(Error::Shape(format!(
            "n = {n} tokens overflow the sizes of a {}×{} product",
            w.m(),
            w.k()
        )));
    }
    Ok(())
}
