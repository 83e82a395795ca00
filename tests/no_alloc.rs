//! Steady-state calls allocate nothing: after a first call has sized the
//! context's workspace, repeated calls of the same or smaller shapes make no
//! heap allocation (counted by a wrapping global allocator, on the test's
//! own thread only: the calls run there with one thread, and the test
//! harness's threads may allocate at any time).

use lutgemm::{
    Context, Dequantize, Format, IntMatrix, PackOptions, PackedWeights, ScaleGranularity,
    TernaryMatrix, kernels,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialized:
    /// reading it never allocates).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn repeated_calls_do_not_allocate() {
    COUNTED.with(|c| c.set(true));
    let (m, k) = (300, 1000);
    let codes: Vec<i8> = (0..m * k).map(|i| (i % 3) as i8 - 1).collect();
    let w = TernaryMatrix::new(
        m,
        k,
        codes,
        vec![0.5; m * 4],
        ScaleGranularity::PerBlock(250),
    )
    .unwrap();
    let x: Vec<f32> = (0..4 * k).map(|i| (i as f32).sin()).collect();
    let q: Vec<i8> = (0..4 * k).map(|i| ((i % 255) as i32 - 127) as i8).collect();
    let d = [0.1f32; 4];
    let mut y = vec![0f32; 4 * m];
    let int_matrix = |bits: u32| {
        IntMatrix::new(
            m,
            k,
            bits,
            ScaleGranularity::PerBlock(250),
            (0..m * k).map(|i| (i % (1 << bits)) as u8).collect(),
            vec![0.5; m * 4],
            vec![-0.25; m * 4],
        )
        .unwrap()
    };
    let (int4, int2) = (int_matrix(4), int_matrix(2));
    for kd in kernels::available() {
        let wf: &dyn Dequantize = if kd.supports(Format::Ternary) {
            &w
        } else if kd.supports(Format::Int4) {
            &int4
        } else {
            &int2
        };
        let p = PackedWeights::pack(
            wf,
            &PackOptions {
                family: Some(kd.family()),
                isa: Some(kd.isa),
                contract: kd.contract,
                ..PackOptions::default()
            },
        )
        .unwrap();
        let mut ctx = Context::with_threads(1).unwrap();
        ctx.matmul(&p, &x, 4, &mut y).unwrap(); // sizes the workspace
        let before = ALLOCS.load(Ordering::Relaxed);
        assert!(before > 0, "the counter sees the packing allocations");
        for n in [4, 1, 3] {
            ctx.matmul(&p, &x[..n * k], n, &mut y[..n * m]).unwrap();
            ctx.matmul_i8(&p, &q[..n * k], &d[..n], n, &mut y[..n * m])
                .unwrap();
        }
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(
            after - before,
            0,
            "{}: allocations in steady-state calls",
            kd.name
        );
    }
}
