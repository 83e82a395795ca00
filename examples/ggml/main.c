/* lutgemm inside a real ggml graph, next to ggml's own ggml_mul_mat.
 *
 * For each weight shape (m × k) and GGUF block type (TQ2_0, Q4_0):
 *   - W: random floats quantized by ggml itself (ggml_quantize_chunk) into a
 *     ggml tensor (ne0 = k, ne1 = m: rows of blocks);
 *   - lutgemm weights imported from those same block bytes
 *     (lutgemm_weights_from_gguf), once per contract (Exact, Float);
 *   - for n = 1 and 8 tokens, X: random f32 (ne0 = k, ne1 = n), and
 *       graph A:  Y = ggml_mul_mat(W, X)
 *       graph B:  P = custom op "prepare" (X)   -> lutgemm_prepare(ith, nth)
 *                 Y = custom op "compute" (P)   -> lutgemm_compute(ith, nth)
 *     ggml runs every node on all its threads, passing its own (ith, nth),
 *     and puts a barrier between nodes: exactly the barrier lutgemm needs
 *     between prepare and compute. P's own data (the node's output tensor)
 *     is lutgemm's wdata, sized with lutgemm_work_size() when the graph is
 *     built.
 *     For Q4_0 also graph A' = ggml_mul_mat on the same blocks loaded into
 *     ggml's CPU_REPACK buffer (q4_0_8x8), which is how llama.cpp runs Q4_0
 *     on x86.
 *   - all graphs run on the same ggml thread pool (ggml_threadpool_new) at
 *     1 and 2 threads; median and min of RUNS interleaved runs are printed.
 * The outputs are checked against ggml's, against an f64 oracle on ggml's
 * dequantized weights, and (Exact) against the integer model the Exact
 * contract defines, computed here from ggml's block bytes.
 *
 * Usage: lutgemm_ggml [--quick] [--runs N] [--threads 1,2] [--prio P]
 *   --prio: ggml_threadpool_params.prio (as llama-bench --prio): 0 normal
 *   (default), 1 medium, 2 high, 3 realtime (SCHED_FIFO; needs privileges),
 *   for timing on a machine other processes share.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "lutgemm.h"

/* lutgemm's GGUF type ids are ggml's own enum values. */
_Static_assert(LUTGEMM_GGML_TQ2_0 == (int)GGML_TYPE_TQ2_0, "TQ2_0 id");
_Static_assert(LUTGEMM_GGML_Q4_0 == (int)GGML_TYPE_Q4_0, "Q4_0 id");

#define MAX_THREADS 8
#define WARMUP 3
/* Sanity bound on NMSE against ggml and the oracle. Per-token int8 (Exact)
 * on Gaussian activations, amax ≈ 4σ over k = 4096: (4/127)² / 12 ≈ 8e-5
 * expected; ggml's per-block q8 (Q8_K for TQ2_0, Q8_0 for Q4_0) is finer. */
#define NMSE_MAX 5e-4

static int g_failed = 0;
#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "CHECK FAILED (%s:%d): ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
            g_failed = 1;                                  \
        }                                                  \
    } while (0)

static void die_lg(const char *what, lutgemm_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, lutgemm_status_str(s), lutgemm_last_error());
    exit(1);
}

/* ---------------------------------------------------------------- random */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void)
{
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) * 0x1.0p-53; }
static float rng_gauss(void)
{
    double u = rng_unit(), v = rng_unit();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* ------------------------------------------------- the lutgemm custom op */

/* userdata of both nodes of one graph B */
typedef struct {
    const lutgemm_weights *w;
    int64_t n;         /* tokens */
    size_t wsize;      /* bytes of wdata, >= lutgemm_work_size(w, n, nth) for nth <= max_nth */
    int max_nth;
    atomic_int status; /* first failure (LUTGEMM_OK if none) */
} lg_op;


static void lg_fail(lg_op *op, const char *what, lutgemm_status s, int ith, int nth)
{
    int expected = LUTGEMM_OK;
    if (atomic_compare_exchange_strong(&op->status, &expected, s))
        fprintf(stderr, "%s (ith %d, nth %d): %s: %s\n", what, ith, nth, lutgemm_status_str(s),
                lutgemm_last_error());
}

/* Node 1: dst is wdata (I8, wsize bytes, any alignment), src[0] is X (f32, ne0 = k). */
static void lg_prepare_op(struct ggml_tensor *dst, int ith, int nth, void *userdata)
{
    lg_op *op = userdata;
    if (nth > op->max_nth) {
        lg_fail(op, "prepare: nth above the wdata sizing", LUTGEMM_ERR_WORKSPACE, ith, nth);
        return;
    }
    const struct ggml_tensor *x = dst->src[0];
    lutgemm_status s = lutgemm_prepare(op->w, x->data, LUTGEMM_TYPE_F32, op->n, ith, nth,
                                       dst->data, op->wsize);
    if (s != LUTGEMM_OK)
        lg_fail(op, "lutgemm_prepare", s, ith, nth);
}

/* Node 2 (after ggml's barrier): dst is Y (f32, ne0 = m, ne1 = n), src[0]
 * is node 1, whose data every thread's prepare has filled. */
static void lg_compute_op(struct ggml_tensor *dst, int ith, int nth, void *userdata)
{
    lg_op *op = userdata;
    if (nth > op->max_nth)
        return; /* reported by prepare */
    struct ggml_tensor *p = dst->src[0];
    lutgemm_status s = lutgemm_compute(op->w, op->n, (float *)dst->data,
                                       (int64_t)(dst->nb[1] / sizeof(float)), ith, nth,
                                       p->data, op->wsize);
    if (s != LUTGEMM_OK)
        lg_fail(op, "lutgemm_compute", s, ith, nth);
}

/* Adds the two nodes for Y = X · Wᵀ to ctx; returns Y (ne0 = m, ne1 = n,
 * like ggml_mul_mat). lutgemm_prepare takes X as dense n × k rows (no row
 * stride), so X must be contiguous f32 (F16/BF16 would map to
 * LUTGEMM_TYPE_F16/BF16 the same way). */
static struct ggml_tensor *lg_mul_mat(struct ggml_context *ctx, lg_op *op, struct ggml_tensor *x)
{
    GGML_ASSERT(x->type == GGML_TYPE_F32 && ggml_is_contiguous(x));
    GGML_ASSERT(x->ne[0] == lutgemm_weights_k(op->w) && x->ne[1] == op->n);
    struct ggml_tensor *args[1] = {x};
    struct ggml_tensor *wdata = ggml_custom_4d(ctx, GGML_TYPE_I8, (int64_t)op->wsize, 1, 1,
                                               1, args, 1, lg_prepare_op, GGML_N_TASKS_MAX, op);
    ggml_set_name(wdata, "lutgemm_prepare");
    args[0] = wdata;
    struct ggml_tensor *y =
        ggml_custom_4d(ctx, GGML_TYPE_F32, lutgemm_weights_m(op->w), op->n, 1, 1, args, 1,
                       lg_compute_op, GGML_N_TASKS_MAX, op);
    ggml_set_name(y, "lutgemm_compute");
    return y;
}

/* wdata bytes valid for every nth in 1..max_nth: the graph (and so this
 * buffer) is built before ggml picks nth in ggml_graph_plan(), and
 * lutgemm_work_size(w, n, max_nth) covers every thread count up to
 * max_nth, with the slack lutgemm needs to align any pointer. */
static size_t lg_wsize(const lutgemm_weights *w, int64_t n, int max_nth)
{
    size_t ws;
    lutgemm_status s = lutgemm_work_size(w, n, max_nth, &ws);
    if (s != LUTGEMM_OK)
        die_lg("lutgemm_work_size", s);
    return ws;
}

/* ------------------------------------------------------------- timing */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    struct ggml_cgraph *gf;
    struct ggml_cplan plan;
    void *work;
} runner;

static void runner_init(runner *r, struct ggml_cgraph *gf, int nth, struct ggml_threadpool *tp)
{
    r->gf = gf;
    r->plan = ggml_graph_plan(gf, nth, tp);
    r->work = NULL;
    if (r->plan.work_size > 0) {
        r->work = malloc(r->plan.work_size);
        if (!r->work) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        r->plan.work_data = r->work;
    }
}
static double runner_run(runner *r)
{
    double t0 = now_us();
    enum ggml_status s = ggml_graph_compute(r->gf, &r->plan);
    double t1 = now_us();
    if (s != GGML_STATUS_SUCCESS) {
        fprintf(stderr, "ggml_graph_compute: status %d\n", (int)s);
        exit(1);
    }
    return t1 - t0;
}

/* ------------------------------------------------------------ checking */

typedef struct {
    double nmse_ggml_ref;   /* ggml_mul_mat vs f64 oracle */
    double nmse_repack_ref; /* ggml_mul_mat on repacked Q4_0 vs f64 oracle (-1: none) */
    double nmse_exact_ref;  /* lutgemm exact vs f64 oracle */
    double nmse_exact_ggml; /* lutgemm exact vs ggml_mul_mat */
    double maxrel_exact_ggml; /* max |Δ| / max |y_ggml| */
    double exact_bound;     /* max |y_exact - ref| / (d_t/2 Σ|w| + ...): <= 1 expected */
    double nmse_float_ref;  /* lutgemm float vs f64 oracle */
    double float_bound;     /* max |y_float - ref| / (1e-5 Σ|x·w|): <= 1 is the contract */
    double exact_model_ulp; /* max |y_exact - model| in ulps of the model */
    int fused;              /* lutgemm scales these weights in f32 in the kernel */
    double exact_model_fused; /* fused: max |y_exact - model| / the fused bound */
} errors;

static double nmse(const float *a, const double *ref, size_t len)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < len; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

/* The Exact contract from ggml's block bytes: per-token int8 activations
 * (s = 127/amax in f32, q = round(x·s) ties away, d = amax/127), exact
 * int32 sums per block, block scales applied in f64, one rounding to f32.
 * codes: m × k int8 weight codes centred (TQ2_0: q-1, Q4_0: q-8), scales:
 * m × k/bs f32 block scales. Also, for lutgemm's fused f32 scaling of
 * weights it holds as w = s·u + o with u = code + zp, s = d, o = -zp·d
 * (Q4_0: zp = 8), the exact value before rounding (y64) and the magnitude
 * its bound is relative to, mag = |d_t| · Σ_g (|s·Σ u·q| + |o·Σ q|). */
static void exact_model(const int8_t *codes, const float *scales, int64_t bs, int zp,
                        const float *x, int64_t n, int64_t m, int64_t k, float *y, double *y64,
                        double *mag, float *dt)
{
    int8_t *q = malloc((size_t)k);
    for (int64_t t = 0; t < n; t++) {
        const float *xt = x + t * k;
        float amax = 0;
        for (int64_t c = 0; c < k; c++)
            amax = fmaxf(amax, fabsf(xt[c]));
        float s = 127.0f / amax;
        float d = amax / 127.0f;
        dt[t] = d;
        for (int64_t c = 0; c < k; c++) {
            float v = xt[c] * s;
            q[c] = (int8_t)roundf(v); /* roundf: ties away from zero */
        }
        for (int64_t r = 0; r < m; r++) {
            const int8_t *cr = codes + r * k;
            const float *sr = scales + r * (k / bs);
            double acc = 0, a = 0;
            for (int64_t g = 0; g < k / bs; g++) {
                int32_t p = 0, qs = 0;
                for (int64_t c = g * bs; c < (g + 1) * bs; c++) {
                    p += (int32_t)cr[c] * q[c];
                    qs += q[c];
                }
                acc += (double)p * (double)sr[g];
                a += fabs((double)sr[g]) * (fabs((double)(p + zp * qs)) + zp * fabs((double)qs));
            }
            y[t * m + r] = (float)(acc * (double)d);
            y64[t * m + r] = acc * (double)d;
            mag[t * m + r] = a * fabs((double)d);
        }
    }
    free(q);
}

static double ulps(float a, float b)
{
    if (a == b)
        return 0;
    float u = nextafterf(fabsf(b), INFINITY) - fabsf(b);
    return fabs((double)a - (double)b) / (double)u;
}

/* A graph of two empty custom nodes: what ggml's thread pool itself costs
 * (kick-off, one barrier, completion) at nth threads on this machine now. */
static void noop_op(struct ggml_tensor *dst, int ith, int nth, void *userdata)
{
    (void)dst, (void)ith, (void)nth, (void)userdata;
}
static int g_prio = GGML_SCHED_PRIO_NORMAL;

/* ggml applies the pool's priority to the calling thread too, at kick-off;
 * the host work between timings (oracle, checks) goes back to normal. */
static struct ggml_threadpool *pool_new(int nth)
{
    struct ggml_threadpool_params tpp = ggml_threadpool_params_default(nth);
    tpp.prio = (enum ggml_sched_priority)g_prio;
    return ggml_threadpool_new(&tpp);
}
static void pool_free(struct ggml_threadpool *tp)
{
    ggml_threadpool_free(tp);
    if (g_prio != GGML_SCHED_PRIO_NORMAL) {
        struct sched_param sp = {0};
        pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    }
}

static void pool_baseline(int nth, int runs, double *med, double *mn)
{
    struct ggml_init_params gp = {4 * ggml_tensor_overhead() + ggml_graph_overhead() + 4096,
                                  NULL, false};
    struct ggml_context *ctx = ggml_init(gp);
    struct ggml_tensor *a = ggml_custom_4d(ctx, GGML_TYPE_F32, 1, 1, 1, 1, NULL, 0, noop_op,
                                           GGML_N_TASKS_MAX, NULL);
    struct ggml_tensor *b = ggml_custom_4d(ctx, GGML_TYPE_F32, 1, 1, 1, 1, &a, 1, noop_op,
                                           GGML_N_TASKS_MAX, NULL);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, b);
    struct ggml_threadpool *tp = pool_new(nth);
    runner r;
    runner_init(&r, gf, nth, tp);
    double *t = malloc((size_t)runs * sizeof(double));
    for (int i = 0; i < WARMUP; i++)
        runner_run(&r);
    for (int i = 0; i < runs; i++)
        t[i] = runner_run(&r);
    *med = median(t, runs);
    *mn = t[0];
    free(t);
    free(r.work);
    pool_free(tp);
    ggml_free(ctx);
}

/* ---------------------------------------------------------------- main */

typedef struct {
    enum ggml_type gt;
    int lt; /* LUTGEMM_GGML_* */
    const char *name;
    int64_t bs;     /* weights per block */
    size_t dofs;    /* byte offset of the f16 scale in a block */
    int zp;         /* lutgemm's offset is -zp · d (ternary codes: none) */
} wtype;

static const wtype WTYPES[] = {
    {GGML_TYPE_TQ2_0, LUTGEMM_GGML_TQ2_0, "TQ2_0", 256, 64, 0}, /* w = d · (q - 1) */
    {GGML_TYPE_Q4_0, LUTGEMM_GGML_Q4_0, "Q4_0", 32, 0, 8},      /* w = d · (q - 8) */
};

/* the graphs timed side by side */
enum { G_GGML, G_REPACK, G_EXACT, G_FLOAT, NG };
static const char *GNAME[NG] = {"ggml mul_mat", "ggml mul_mat on repacked Q4_0",
                                "lutgemm Exact", "lutgemm Float"};

typedef struct {
    char shape[32];
    const char *type;
    int64_t n;
    int nth;
    double med[NG], min[NG]; /* microseconds; 0: not run */
} timing;

/* ggml's CPU repack buffer type ("CPU_REPACK"): what llama.cpp loads Q4_0
 * weights into on x86 with AVX2 (interleaved q4_0_8x8 blocks and their own
 * GEMV/GEMM), or NULL. */
static ggml_backend_buffer_type_t repack_buft(void)
{
    ggml_backend_reg_t reg = ggml_backend_cpu_reg();
    ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, 0);
    ggml_backend_dev_get_extra_bufts_t get =
        (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(
            reg, "ggml_backend_dev_get_extra_bufts");
    if (!get)
        return NULL;
    for (ggml_backend_buffer_type_t *b = get(dev); b && *b; b++)
        if (strstr(ggml_backend_buft_name(*b), "REPACK"))
            return *b;
    return NULL;
}

#define CONTRACTS 2 /* exact, float */

int main(int argc, char **argv)
{
    int quick = 0, runs = 20;
    int threads[MAX_THREADS] = {1, 2}, nthreads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--prio") && i + 1 < argc) {
            g_prio = atoi(argv[++i]);
            if (g_prio < GGML_SCHED_PRIO_LOW || g_prio > GGML_SCHED_PRIO_REALTIME) {
                fprintf(stderr, "--prio must be in %d..%d\n", GGML_SCHED_PRIO_LOW,
                        GGML_SCHED_PRIO_REALTIME);
                return 2;
            }
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && nthreads < MAX_THREADS;
                 tok = strtok(NULL, ","))
                threads[nthreads++] = atoi(tok);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--runs N] [--threads 1,2] [--prio P]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    int max_nth = 1;
    for (int i = 0; i < nthreads; i++) {
        if (threads[i] < 1 || threads[i] > MAX_THREADS) {
            fprintf(stderr, "threads must be in 1..%d\n", MAX_THREADS);
            return 2;
        }
        if (threads[i] > max_nth)
            max_nth = threads[i];
    }

    ggml_cpu_init();
    FILE *la = fopen("/proc/loadavg", "r");
    char load[64] = "?";
    if (la) {
        if (!fgets(load, sizeof load, la))
            strcpy(load, "?\n");
        fclose(la);
        printf("load average before the run (other processes share these cores): %s", load);
    }
    printf("lutgemm %s, ggml CPU backend: AVX2 %d, AVX512 %d, AVX512-VNNI %d, llamafile %d\n",
           lutgemm_version(), ggml_cpu_has_avx2(), ggml_cpu_has_avx512(),
           ggml_cpu_has_avx512_vnni(), ggml_cpu_has_llamafile());

    if (g_prio != GGML_SCHED_PRIO_NORMAL)
        printf("ggml thread pool priority: %d (ggml_sched_priority)\n", g_prio);
    printf("ggml thread pool alone (graph of 2 empty custom nodes), median (min) of %d runs:",
           runs);
    for (int i = 0; i < nthreads; i++) {
        double med, mn;
        pool_baseline(threads[i], runs, &med, &mn);
        printf("  %d thr %.1f (%.1f) us%s", threads[i], med, mn, i + 1 < nthreads ? ";" : "\n");
    }

    ggml_backend_buffer_type_t rbuft = repack_buft();
    printf("ggml CPU repack buffer type: %s\n", rbuft ? ggml_backend_buft_name(rbuft) : "none");

    static const int64_t SHAPES[][2] = {{4096, 4096}, {2560, 6912}}; /* m, k */
    const int nshapes = quick ? 1 : 2;
    static const int64_t NS[] = {1, 8};
    const int nns = 2;
    const int ntypes = 2;

    timing *timings = calloc((size_t)(nshapes * ntypes * nns * nthreads), sizeof(timing));
    int ntimings = 0;

    printf("\nlutgemm kernels picked (lutgemm_weights_describe):\n");
    int nerr = 0;
    errors errs[8];
    char errhdr[8][64];

    for (int si = 0; si < nshapes; si++) {
        const int64_t m = SHAPES[si][0], k = SHAPES[si][1];
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)m, (long long)k);

        for (int ti = 0; ti < ntypes; ti++) {
            const wtype *wt = &WTYPES[ti];

            /* --- W: random floats, quantized by ggml into a ggml tensor */
            float *wf = malloc((size_t)(m * k) * sizeof(float));
            for (int64_t r = 0; r < m; r++) {
                float rs = 0.02f * (0.5f + (float)rng_unit());
                for (int64_t c = 0; c < k; c++) {
                    if (wt->gt == GGML_TYPE_TQ2_0) /* ternary-like: {-1,0,1}·scale + noise */
                        wf[r * k + c] = rs * ((float)((int)(rng_u64() % 3) - 1) + 0.1f * rng_gauss());
                    else
                        wf[r * k + c] = rs * rng_gauss();
                }
            }
            const size_t wbytes = ggml_row_size(wt->gt, k) * (size_t)m;
            struct ggml_init_params wp = {wbytes + ggml_tensor_overhead() + 1024, NULL, false};
            struct ggml_context *wctx = ggml_init(wp);
            struct ggml_tensor *W = ggml_new_tensor_2d(wctx, wt->gt, k, m);
            ggml_set_name(W, "W");
            size_t qbytes = ggml_quantize_chunk(wt->gt, wf, W->data, 0, m, k, NULL);
            CHECK(qbytes == ggml_nbytes(W), "quantize_chunk wrote %zu of %zu bytes", qbytes,
                  ggml_nbytes(W));
            free(wf);

            /* the same blocks in ggml's CPU repack buffer (Q4_0 only):
             * ggml_backend_tensor_set() repacks them */
            struct ggml_context *rctx = NULL;
            ggml_backend_buffer_t rbuf = NULL;
            struct ggml_tensor *WR = NULL;
            if (wt->gt == GGML_TYPE_Q4_0 && rbuft) {
                struct ggml_init_params rp = {2 * ggml_tensor_overhead(), NULL, true};
                rctx = ggml_init(rp);
                WR = ggml_new_tensor_2d(rctx, wt->gt, k, m);
                ggml_set_name(WR, "W_repacked");
                rbuf = ggml_backend_alloc_ctx_tensors_from_buft(rctx, rbuft);
                if (!rbuf) {
                    WR = NULL;
                } else {
                    ggml_backend_tensor_set(WR, W->data, 0, ggml_nbytes(W));
                }
            }

            /* the oracle's weights: ggml's own dequantization of W; the
             * Exact model's codes and block scales from the block bytes */
            float *wd = malloc((size_t)(m * k) * sizeof(float));
            ggml_get_type_traits(wt->gt)->to_float(W->data, wd, m * k);
            const int64_t nblk = m * k / wt->bs;
            const size_t blk_bytes = ggml_row_size(wt->gt, wt->bs);
            float *bscale = malloc((size_t)nblk * sizeof(float));
            int8_t *codes = malloc((size_t)(m * k));
            double *wabs = malloc((size_t)m * sizeof(double)); /* Σ_c |w_rc| */
            for (int64_t r = 0; r < m; r++) {
                double a = 0;
                for (int64_t c = 0; c < k; c++)
                    a += fabs((double)wd[r * k + c]);
                wabs[r] = a;
            }
            for (int64_t b = 0; b < nblk; b++) {
                ggml_fp16_t h;
                memcpy(&h, (const char *)W->data + (size_t)b * blk_bytes + wt->dofs, sizeof h);
                bscale[b] = ggml_fp16_to_fp32(h);
                for (int64_t j = 0; j < wt->bs; j++) {
                    float v = wd[b * wt->bs + j];
                    codes[b * wt->bs + j] =
                        bscale[b] != 0 ? (int8_t)lrintf(v / bscale[b]) : 0;
                    CHECK((float)codes[b * wt->bs + j] * bscale[b] == v,
                          "%s block %lld not w = d * code", wt->name, (long long)b);
                }
            }

            for (int ni = 0; ni < nns; ni++) {
                const int64_t n = NS[ni];

                /* --- lutgemm weights from the very same block bytes */
                lutgemm_weights *lw[CONTRACTS];
                lg_op op[CONTRACTS];
                const int contracts[CONTRACTS] = {LUTGEMM_CONTRACT_EXACT, LUTGEMM_CONTRACT_FLOAT};
                size_t wsize_total = 0;
                for (int c = 0; c < CONTRACTS; c++) {
                    lutgemm_pack_options opts;
                    lutgemm_pack_options_default(&opts);
                    opts.contract = contracts[c];
                    opts.tokens = n;
                    lutgemm_status s = lutgemm_weights_from_gguf(wt->lt, W->data, ggml_nbytes(W),
                                                                 m, k, &opts, &lw[c]);
                    if (s != LUTGEMM_OK)
                        die_lg("lutgemm_weights_from_gguf", s);
                    op[c].w = lw[c];
                    op[c].n = n;
                    op[c].wsize = lg_wsize(lw[c], n, max_nth);
                    op[c].max_nth = max_nth;
                    atomic_init(&op[c].status, LUTGEMM_OK);
                    wsize_total += op[c].wsize + 64;
                }
                printf("%-11s %-6s n=%lld\n  Exact: %s\n  Float: %s\n", shape, wt->name,
                       (long long)n, lutgemm_weights_describe(lw[0]),
                       lutgemm_weights_describe(lw[1]));

                /* --- graphs: ggml_mul_mat (plain, repacked), lutgemm Exact and Float */
                size_t mem = (size_t)(n * k) * 4 + NG * (size_t)(n * m) * 4 + wsize_total +
                             32 * ggml_tensor_overhead() + (NG + 1) * ggml_graph_overhead() + (1 << 20);
                struct ggml_init_params gp = {mem, NULL, false};
                struct ggml_context *ctx = ggml_init(gp);
                struct ggml_tensor *X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, n);
                ggml_set_name(X, "X");
                float *xd = X->data;
                for (int64_t i = 0; i < n * k; i++)
                    xd[i] = rng_gauss();

                struct ggml_tensor *Y[NG] = {NULL};
                struct ggml_cgraph *gf[NG] = {NULL};
                Y[G_GGML] = ggml_mul_mat(ctx, W, X);
                if (WR)
                    Y[G_REPACK] = ggml_mul_mat(ctx, WR, X);
                Y[G_EXACT] = lg_mul_mat(ctx, &op[0], X);
                Y[G_FLOAT] = lg_mul_mat(ctx, &op[1], X);
                for (int g = 0; g < NG; g++) {
                    if (!Y[g])
                        continue;
                    gf[g] = ggml_new_graph(ctx);
                    ggml_build_forward_expand(gf[g], Y[g]);
                }

                /* --- oracle, f64 on ggml's dequantized weights */
                const size_t ylen = (size_t)(n * m);
                double *ref = malloc(ylen * sizeof(double));
                double *absref = malloc(ylen * sizeof(double));
                for (int64_t t = 0; t < n; t++)
                    for (int64_t r = 0; r < m; r++) {
                        double acc = 0, aacc = 0;
                        const float *wr = wd + r * k, *xt = xd + t * k;
                        for (int64_t c = 0; c < k; c++) {
                            double p = (double)wr[c] * (double)xt[c];
                            acc += p;
                            aacc += fabs(p);
                        }
                        ref[t * m + r] = acc;
                        absref[t * m + r] = aacc;
                    }
                float *model = malloc(ylen * sizeof(float));
                double *model64 = malloc(ylen * sizeof(double));
                double *mag = malloc(ylen * sizeof(double));
                float *dt = malloc((size_t)n * sizeof(float));
                exact_model(codes, bscale, wt->bs, wt->zp, xd, n, m, k, model, model64, mag, dt);
                /* The bound of lutgemm's fused f32 scaling (src/epilogue.rs):
                 * |y - y*| <= u|y*| + 2^-150 + (1 + u) γ_{3 nb} |d| Σ_g (|s·isum| + |o·qsum|). */
                const int fused = strstr(lutgemm_weights_describe(lw[0]), "fused") != NULL;
                const double u = ldexp(1.0, -24), nb3 = 3.0 * (double)(k / wt->bs);
                const double gam = nb3 * u / (1.0 - nb3 * u);

                float *first[NG] = {NULL};
                for (int hi = 0; hi < nthreads; hi++) {
                    const int nth = threads[hi];
                    struct ggml_threadpool *tp = pool_new(nth);
                    runner r[NG];
                    double *t[NG] = {NULL};
                    for (int g = 0; g < NG; g++)
                        if (gf[g]) {
                            runner_init(&r[g], gf[g], nth, tp);
                            t[g] = malloc((size_t)runs * sizeof(double));
                        }
                    for (int i = 0; i < WARMUP; i++)
                        for (int g = 0; g < NG; g++)
                            if (gf[g])
                                runner_run(&r[g]);
                    for (int i = 0; i < runs; i++) /* interleaved: same noise for all */
                        for (int g = 0; g < NG; g++)
                            if (gf[g])
                                t[g][i] = runner_run(&r[g]);
                    timing *tm = &timings[ntimings++];
                    snprintf(tm->shape, sizeof tm->shape, "%s", shape);
                    tm->type = wt->name;
                    tm->n = n;
                    tm->nth = nth;
                    for (int g = 0; g < NG; g++) {
                        if (!gf[g])
                            continue;
                        tm->med[g] = median(t[g], runs); /* sorts: [0] is the minimum */
                        tm->min[g] = t[g][0];
                        free(t[g]);
                        free(r[g].work);
                    }
                    pool_free(tp);
                    for (int c = 0; c < CONTRACTS; c++)
                        CHECK(atomic_load(&op[c].status) == LUTGEMM_OK, "lutgemm op failed");

                    /* same results at every thread count (both libraries) */
                    for (int g = 0; g < NG; g++) {
                        if (!gf[g])
                            continue;
                        if (!first[g]) {
                            first[g] = malloc(ylen * sizeof(float));
                            memcpy(first[g], Y[g]->data, ylen * sizeof(float));
                        } else {
                            CHECK(!memcmp(first[g], Y[g]->data, ylen * sizeof(float)),
                                  "%s %s n=%lld: %s output differs between %d and %d threads",
                                  shape, wt->name, (long long)n, GNAME[g], threads[0], nth);
                        }
                    }
                }

                /* --- errors (outputs of the last thread count; all equal) */
                const float *ya = Y[G_GGML]->data, *ye = Y[G_EXACT]->data,
                            *yf = Y[G_FLOAT]->data;
                errors e = {0};
                e.nmse_ggml_ref = nmse(ya, ref, ylen);
                e.nmse_repack_ref = Y[G_REPACK] ? nmse(Y[G_REPACK]->data, ref, ylen) : -1;
                e.nmse_exact_ref = nmse(ye, ref, ylen);
                e.nmse_float_ref = nmse(yf, ref, ylen);
                double *yad = malloc(ylen * sizeof(double));
                double ymax = 0, dmax = 0;
                for (size_t i = 0; i < ylen; i++) {
                    yad[i] = ya[i];
                    ymax = fmax(ymax, fabs((double)ya[i]));
                    dmax = fmax(dmax, fabs((double)ye[i] - (double)ya[i]));
                    e.float_bound = fmax(e.float_bound, fabs((double)yf[i] - ref[i]) /
                                                            (1e-5 * absref[i] + 1e-30));
                    e.exact_model_ulp = fmax(e.exact_model_ulp, ulps(ye[i], model[i]));
                    const double fb = u * fabs(model64[i]) + ldexp(1.0, -150) +
                                      (1.0 + u) * gam * mag[i];
                    e.exact_model_fused =
                        fmax(e.exact_model_fused, fabs((double)ye[i] - model64[i]) / fb);
                    /* the Exact contract's error: |x - d_t q| <= d_t / 2 per
                     * activation (up to f32 rounding of s and x·s), so
                     * |y - oracle| <= d_t / 2 · Σ|w| + rounding */
                    double b = 0.5 * (double)dt[i / (size_t)m] * wabs[i % (size_t)m] +
                               1e-6 * absref[i] + 2.0 * (double)(nextafterf(fabsf((float)ref[i]), INFINITY) -
                                              fabsf((float)ref[i]));
                    e.exact_bound = fmax(e.exact_bound, fabs((double)ye[i] - ref[i]) / b);
                }
                e.nmse_exact_ggml = nmse(ye, yad, ylen);
                e.maxrel_exact_ggml = dmax / ymax;
                free(yad);

                CHECK(e.nmse_exact_ggml < NMSE_MAX, "NMSE(exact, ggml) = %.3g", e.nmse_exact_ggml);
                CHECK(e.nmse_exact_ref < NMSE_MAX, "NMSE(exact, oracle) = %.3g", e.nmse_exact_ref);
                CHECK(e.nmse_ggml_ref < NMSE_MAX, "NMSE(ggml, oracle) = %.3g", e.nmse_ggml_ref);
                CHECK(e.nmse_repack_ref < NMSE_MAX, "NMSE(ggml repacked, oracle) = %.3g",
                      e.nmse_repack_ref);
                CHECK(e.exact_bound <= 1.0, "Exact: %.3g x the int8 rounding bound", e.exact_bound);
                CHECK(e.float_bound <= 1.0, "Float contract: %.3g x the bound", e.float_bound);
                e.fused = fused;
                if (fused)
                    CHECK(e.exact_model_fused <= 1.0,
                          "Exact (fused scaling) vs its integer model: %.3g x the bound",
                          e.exact_model_fused);
                else
                    CHECK(e.exact_model_ulp <= 1.0, "Exact vs its integer model: %.3g ulp",
                          e.exact_model_ulp);
                snprintf(errhdr[nerr], sizeof errhdr[nerr], "%-11s %-6s %2lld", shape, wt->name,
                         (long long)n);
                errs[nerr] = e;
                nerr++;

                for (int g = 0; g < NG; g++)
                    free(first[g]);
                free(ref);
                free(absref);
                free(model);
                free(model64);
                free(mag);
                free(dt);
                ggml_free(ctx);
                for (int c = 0; c < CONTRACTS; c++)
                    lutgemm_weights_free(lw[c]);
            }
            free(wd);
            free(bscale);
            free(codes);
            free(wabs);
            ggml_free(wctx);
            if (rbuf)
                ggml_backend_buffer_free(rbuf);
            if (rctx)
                ggml_free(rctx);
        }
    }

    printf("\nTimes in microseconds per graph: median (min) of %d interleaved runs after %d "
           "warm-ups;\nggml_graph_compute on one ggml_threadpool per thread count; lutgemm = "
           "prepare node + compute node.\n\n",
           runs, WARMUP);
    printf("%-11s %-6s %2s %3s | %18s | %18s | %18s | %13s | %20s\n", "m x k", "type", "n",
           "thr", "ggml mul_mat", "ggml repacked", "lutgemm Exact", "vs best ggml",
           "lutgemm Float");
    for (int i = 0; i < ntimings; i++) {
        timing *t = &timings[i];
        char rp[32] = "-";
        if (t->med[G_REPACK] > 0)
            snprintf(rp, sizeof rp, "%8.1f (%7.1f)", t->med[G_REPACK], t->min[G_REPACK]);
        double bmed = t->med[G_GGML], bmin = t->min[G_GGML];
        if (t->med[G_REPACK] > 0) {
            bmed = fmin(bmed, t->med[G_REPACK]);
            bmin = fmin(bmin, t->min[G_REPACK]);
        }
        printf("%-11s %-6s %2lld %3d | %8.1f (%7.1f) | %18s | %8.1f (%7.1f) | %5.2fx %5.2fx | "
               "%9.1f (%8.1f)\n",
               t->shape, t->type, (long long)t->n, t->nth, t->med[G_GGML], t->min[G_GGML], rp,
               t->med[G_EXACT], t->min[G_EXACT], bmed / t->med[G_EXACT], bmin / t->min[G_EXACT],
               t->med[G_FLOAT], t->min[G_FLOAT]);
    }
    printf("\nggml repacked = the same Q4_0 blocks loaded into ggml's CPU_REPACK buffer, as "
           "llama.cpp does (TQ2_0 has no repacked form).\n"
           "vs best ggml = fastest ggml column / lutgemm Exact, by median and by min.\n");

    printf("\nErrors. NMSE(a, b) = sum (a - b)^2 / sum b^2; oracle = f64 X * dequant(W)^T "
           "(ggml's own dequantization):\n\n");
    printf("%-11s %-6s %2s | %9s %9s | %9s %9s %9s %8s %9s | %9s %8s\n", "m x k", "type", "n",
           "ggml/orac", "repk/orac", "Exact/orc", "Ex/ggml", "maxrel", "bound", "model",
           "Float/orc", "bound");
    for (int i = 0; i < nerr; i++) {
        errors *e = &errs[i];
        char rp[16] = "-";
        if (e->nmse_repack_ref >= 0)
            snprintf(rp, sizeof rp, "%9.2e", e->nmse_repack_ref);
        char model[16];
        if (e->fused)
            snprintf(model, sizeof model, "%.0e bnd", e->exact_model_fused);
        else
            snprintf(model, sizeof model, "%4.0f ulp", e->exact_model_ulp);
        printf("%s | %9.2e %9s | %9.2e %9.2e %9.2e %8.3f %9s | %9.2e %8.4f\n", errhdr[i],
               e->nmse_ggml_ref, rp, e->nmse_exact_ref, e->nmse_exact_ggml,
               e->maxrel_exact_ggml, e->exact_bound, model, e->nmse_float_ref, e->float_bound);
    }
    printf("\nmaxrel = max |y_Exact - y_ggml| / max |y_ggml|.\n"
           "Exact bound = max |y - oracle| / (d_t/2 * sum|w| + rounding), d_t = token's int8 "
           "step (<= 1: within the int8 rounding of the activations).\n"
           "Exact model = max distance in f32 ulps from the Exact contract's integer model "
           "(int8 tokens, int32 block sums, f64 scales) computed here from ggml's block bytes;\n"
           "  bnd: weights lutgemm scales in f32 inside its kernel (fused, see describe): max "
           "|y - model| / the fused bound of src/epilogue.rs (<= 1).\n"
           "Float bound = max |y - oracle| / (1e-5 * sum |x*w|) (the Float contract: <= 1).\n");
    printf("Checks (NMSE < %.0e, Exact and Float bounds, Exact model <= 1 ulp (fused: <= 1 "
           "bound), lutgemm ops OK, "
           "same outputs at every thread count): %s\n",
           NMSE_MAX, g_failed ? "FAILED" : "ok");
    free(timings);
    ggml_quantize_free();
    return g_failed ? 1 : 0;
}
