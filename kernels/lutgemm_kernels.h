/* Shared declarations of the lutgemm C kernels: the one kernel ABI.
 *
 * Only innermost loops live in C: no allocation, no threads, no dispatch.
 * Every decision (layout, tiling, bounds, threading, selection) is made in
 * Rust; the safe wrappers in src/kernels/ check every extent before calling.
 * Weight layouts are documented in src/layout/, activation tables in
 * src/lut/.
 *
 * Each ISA object is built with its own -m flags, so this header holds only
 * declarations, macros and `static inline` helpers: nothing non-static and
 * inline may be shared between objects built with different flags.
 *
 * The Rust mirror of these structs is src/kernels/abi.rs; a test checks the
 * field offsets agree (tests in src/kernels/abi.rs).
 */
#ifndef LUTGEMM_KERNELS_H
#define LUTGEMM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One kernel call: a range of row groups × a tile of tokens.
 *
 * Weights: `row_groups` row groups of `mr` rows, the first at `w`, each
 * `w_stride` bytes after the previous one. Along k every row holds `nb`
 * scale groups, each padded with zero weights to `bp` (a multiple of `kc`),
 * kp = nb · bp.
 *
 * Activations: `n` tokens; token t's padded int8 activations (kp bytes) at
 * qpad + t · qpad_stride, its per-group sums Σ qpad (nb int32) at
 * qsum + t · qsum_stride, its tables at tables + t · tables_stride (bytes),
 * and (Fast contract) its table scales, one per span of `span` padded
 * activations (kp / span floats), at tscale + t · tscale_stride.
 * Pointers a kernel does not read may be NULL.
 *
 * Output, for token t, row r (counted from the call's first row, padding
 * rows included), scale group b and plane p < plane_out:
 *   out[t · out_stride + (r · nb + b) · plane_out + p]
 * int32 exact sums for the Exact contract, f32 partial sums for Fast and
 * Float. Every kernel writes (never accumulates into) all of these.
 * With plane_out == 1 a bit-plane kernel writes Σ_i 2^i · P_i, where P_i is
 * plane i's sum; with plane_out == bits it writes each P_i.
 *
 * f32 activations (Float kernels that build their tables inside the call:
 * the vector-LUT): token t's kp padded floats at xpad + t · xpad_stride
 * (floats); NULL for the others.
 *
 * Scratch: `scratch_bytes` bytes at `scratch` (64-byte aligned, this call's
 * alone, contents undefined on entry) for kernels that build their tables
 * per token tile inside the call (vector-LUT); NULL and 0 for the others.
 *
 * mr and kc are the descriptor's (src/kernels/): a kernel built for other
 * values traps (LUTGEMM_REQUIRE), so a mismatch is a test failure, not a
 * silent wrong answer.
 *
 * Fused group scaling (`fuse` has LUTGEMM_FUSE; only the multiply-add
 * kernels of the IntMad and MadFieldRows layouts, Exact contract,
 * plane_out == 1): the kernel
 * applies the scales and offsets itself and writes one float per token and
 * row, out[t · out_stride + r] (float), instead of the int32 group sums:
 *
 *   acc = +0.0f;
 *   for b = 0 .. nb-1, in this order:
 *       acc = fmaf(s[r, b], (float)isum[t, r, b], acc);
 *       with LUTGEMM_FUSE_OFFSETS: acc = fmaf(o[r, b], (float)qsum[t, b], acc);
 *   out = acc;
 * or, with LUTGEMM_FUSE_ZERO_POINT (never with LUTGEMM_FUSE_OFFSETS: every
 * offset is -z · s with z = 2^(bits-1), symmetric weights, and only the
 * scales are stored), per group
 *       acc = fmaf(s[r, b], (float)(isum[t, r, b] - z · qsum[t, b]), acc);
 * (the integer difference is exact: |z · qsum| <= 8 · 127 · MAX_K).
 *
 * each fmaf a fused multiply-add (one rounding to nearest even), each int
 * to float conversion rounded to nearest even. The portable kernel
 * (src/kernels/portable/mad.rs) is the definition; every ISA gives its bits.
 * Row group i's (of the call) scales start at gscale + i · gscale_stride
 * bytes: per scale group b, the mr scales of its rows in order, then, with
 * LUTGEMM_FUSE_OFFSETS, their mr offsets; elements are IEEE binary16 with
 * LUTGEMM_FUSE_F16, else float. qsum (per-group sums of qpad) is read for
 * the offsets. With fuse == 0, gscale is NULL and unread.
 */
#define LUTGEMM_FUSE 1u
#define LUTGEMM_FUSE_F16 2u
#define LUTGEMM_FUSE_OFFSETS 4u
#define LUTGEMM_FUSE_ZERO_POINT 8u
/* The fuse values a kernel accepts: 0, or LUTGEMM_FUSE with any of F16
 * and at most one of OFFSETS and ZERO_POINT. */
#define LUTGEMM_FUSE_VALID(f)                                                  \
    ((f) == 0 || ((f) <= 15 && ((f) & LUTGEMM_FUSE) &&                         \
                  ((f) & (LUTGEMM_FUSE_OFFSETS | LUTGEMM_FUSE_ZERO_POINT)) !=  \
                      (LUTGEMM_FUSE_OFFSETS | LUTGEMM_FUSE_ZERO_POINT)))

typedef struct lutgemm_kernel_args {
    const uint8_t *w;
    size_t w_stride;
    size_t row_groups;
    size_t mr;
    size_t kc;
    size_t nb;
    size_t bp;
    size_t bits;
    size_t plane_out;
    size_t span;
    size_t n;
    const int8_t *qpad;
    size_t qpad_stride;
    const int32_t *qsum;
    size_t qsum_stride;
    const uint8_t *tables;
    size_t tables_stride;
    const float *tscale;
    size_t tscale_stride;
    void *out;
    size_t out_stride;
    size_t fuse;
    const void *gscale;
    size_t gscale_stride;
    uint8_t *scratch;
    size_t scratch_bytes;
    const float *xpad;
    size_t xpad_stride;
} lutgemm_kernel_args;

/* One token's table build: kp padded activations -> the layout's tables.
 * Exact tables read qpad (int8); Fast and Float tables read xpad (f32).
 * Fast tables also write one scale per span of `span` activations. */
typedef struct lutgemm_table_args {
    const int8_t *qpad;
    const float *xpad;
    size_t kp;
    size_t span;
    uint8_t *tables;
    float *tscale;
} lutgemm_table_args;

#define LUTGEMM_KERNEL(name) void name(const lutgemm_kernel_args *a)
#define LUTGEMM_TABLE_BUILDER(name) void name(const lutgemm_table_args *a)

/* A kernel's compile-time assumption about its arguments. */
#define LUTGEMM_REQUIRE(cond)                                                  \
    do {                                                                       \
        if (!(cond))                                                           \
            __builtin_trap();                                                  \
    } while (0)

/* The ABI entry point `name` of a kernel written for one token, `token_fn`
 * (w, qpad, qsum, tables, row_groups, nb, bp, int32 out), for a 2-bit
 * layout with row groups of MR rows padded to KC along k: runs it over the
 * call's token tile. */
#define LUTGEMM_PER_TOKEN_KERNEL(name, token_fn, MR, KC)                       \
    LUTGEMM_KERNEL(name)                                                       \
    {                                                                          \
        LUTGEMM_REQUIRE(a->mr == (MR) && a->kc == (KC) && a->plane_out == 1 && \
                        a->bits == 2 && a->w_stride == a->mr * a->nb * a->bp / 4); \
        for (size_t t = 0; t < a->n; t++)                                      \
            token_fn(a->w, a->qpad + t * a->qpad_stride,                       \
                     a->qsum + t * a->qsum_stride,                             \
                     a->tables + t * a->tables_stride, a->row_groups, a->nb,   \
                     a->bp, (int32_t *)a->out + t * a->out_stride);            \
    }

/* The ABI entry point `name` of a table builder for one token written as
 * token_fn(qpad, kp, tables) (Exact tables). */
#define LUTGEMM_EXACT_TABLE_BUILDER(name, token_fn)                            \
    LUTGEMM_TABLE_BUILDER(name) { token_fn(a->qpad, a->kp, a->tables); }

/* Vector-LUT (Layout::TernaryVecLutG4, src/layout/mod.rs): the kernel
 * builds, per tile of VECLUT_TOKENS tokens and per K-block of
 * VECLUT_KBLOCK groups of 4 columns, one table row of VECLUT_TOKENS int16
 * group sums per ternary pattern (81 patterns), in its scratch:
 *
 *   xT     VECLUT_KBLOCK·4 columns × VECLUT_TOKENS int16, [column][token]
 *   tables VECLUT_KBLOCK groups × 81 patterns × VECLUT_TOKENS int16
 *   acc16  rows × VECLUT_TOKENS int16 (partial sums within a flush run)
 *   acc32  rows × nb × VECLUT_TOKENS int32, [row·nb + group][token]: the
 *          sums of every scale group, written to out once per token tile
 *          (row·nb + group is out's own order, so 16 of them transpose
 *          into one contiguous store per token)
 *
 * int16 partial sums are widened to int32 every VECLUT_FLUSH groups: an
 * entry is at most 4·127 = 508 in magnitude (activations are in
 * [-127, 127]: -128 is rejected in Rust), and 64·508 = 32512 <= 32767.
 * src/layout/mod.rs (veclut_scratch_bytes) computes the same size. */
#define VECLUT_TOKENS 32
#define VECLUT_KBLOCK 8
#define VECLUT_FLUSH 64
#define VECLUT_PATTERNS 81
#define VECLUT_XT_BYTES (VECLUT_KBLOCK * 4 * VECLUT_TOKENS * 2)
#define VECLUT_TABLE_BYTES (VECLUT_KBLOCK * VECLUT_PATTERNS * VECLUT_TOKENS * 2)

/* Scratch bytes a vector-LUT call over `rows` rows of `nb` scale groups
 * needs. */
static inline size_t lutgemm_veclut_scratch_bytes(size_t rows, size_t nb)
{
    return VECLUT_XT_BYTES + VECLUT_TABLE_BYTES + rows * VECLUT_TOKENS * (2 + 4 * nb);
}

/* Writes a vector-LUT call's sums acc ([r][VECLUT_TOKENS], 32-bit
 * elements, r < sums) to out for tokens t0..t0+nt:
 * out[(t0 + t)·out_stride + r]. (The AVX-512 file has an in-register
 * transpose.) */
static inline void lutgemm_veclut_write_out(const lutgemm_kernel_args *a, const int32_t *acc,
                                            size_t sums, size_t t0, size_t nt)
{
    int32_t *out = (int32_t *)a->out;
    for (size_t t = 0; t < nt; t++) {
        int32_t *o = out + (t0 + t) * a->out_stride;
        for (size_t r = 0; r < sums; r++)
            o[r] = acc[r * VECLUT_TOKENS + t];
    }
}

/* xT[c][t] = qpad[t0 + t][col + c] as int16 for c < cols, t < VECLUT_TOKENS
 * (0 for t >= nt): a K-block's int8 activations by column. (The AVX-512
 * file gathers them instead.) */
static inline void lutgemm_veclut_transpose_q(const lutgemm_kernel_args *a, size_t t0, size_t nt,
                                              size_t col, size_t cols, int16_t *xT)
{
    memset(xT, 0, cols * VECLUT_TOKENS * sizeof(int16_t));
    for (size_t t = 0; t < nt; t++) {
        const int8_t *q = a->qpad + (t0 + t) * a->qpad_stride + col;
        for (size_t c = 0; c < cols; c++)
            xT[c * VECLUT_TOKENS + t] = q[c];
    }
}

/* Defines `static void name(const ELEM *xT, size_t groups, ELEM *tables)`
 * for a vector type V of ELEM (PARTS vectors a row of VECLUT_TOKENS):
 * per group j of 4 columns (xT is [column][token]), the 81 rows
 * 27a + 9b + 3c + d = (wa·x0 + wb·x1) + (wc·x2 + wd·x3), w = digit − 1,
 * each product −x, +0 or x (exact), so float rows have one order. */
#define LUTGEMM_VECLUT_BUILD81(name, V, ELEM, PARTS)                           \
    static inline void name(const ELEM *xT, size_t groups, ELEM *tables)       \
    {                                                                          \
        for (size_t j = 0; j < groups; j++) {                                  \
            for (int h = 0; h < (PARTS); h++) {                                \
                /* Column c's part h: x[c · PARTS + h]. */                     \
                const V *x = (const V *)(xT + 4 * j * VECLUT_TOKENS) + h;      \
                const V z = {0};                                               \
                const V x0 = x[0], x1 = x[(PARTS)], x2 = x[2 * (PARTS)], x3 = x[3 * (PARTS)]; \
                const V a[3] = {-x0, z, x0}, b[3] = {-x1, z, x1};              \
                const V c[3] = {-x2, z, x2}, d[3] = {-x3, z, x3};              \
                V P[9], Q[9];                                                  \
                for (int u = 0; u < 3; u++)                                    \
                    for (int v = 0; v < 3; v++) {                              \
                        P[3 * u + v] = a[u] + b[v];                            \
                        Q[3 * u + v] = c[u] + d[v];                            \
                    }                                                          \
                V *t = (V *)(tables + j * VECLUT_PATTERNS * VECLUT_TOKENS) + h; \
                for (int p = 0; p < 9; p++)                                    \
                    for (int r = 0; r < 9; r++)                                \
                        t[(9 * p + r) * (PARTS)] = P[p] + Q[r];                \
            }                                                                  \
        }                                                                      \
    }

/* Float and Fast vector-LUT (Layout::TernaryVecLutG4 under the Float and
 * Fast contracts, kernels/veclut_float.h): the Exact kernel's loop nest
 * with f32 table rows of VECLUT_TOKENS tokens built from xpad, one span
 * (at most VLF_SPAN_GROUPS groups of 4 columns) at a time, in scratch:
 *
 *   xT     VLF_SPAN_GROUPS·4 columns × VECLUT_TOKENS float, [column][token]
 *   tables VLF_SPAN_GROUPS groups × 81 patterns × VECLUT_TOKENS float
 *   t8     the same rows re-quantized to int8 (Fast)
 *   scale  VECLUT_TOKENS float: the tokens' span scales (Fast)
 *   accP   rows × nb × VECLUT_TOKENS float, [row·nb + group][token]: the
 *          group sums, written to out once per token tile
 *
 * The order (src/kernels/portable/veclut.rs is the definition): entry
 * (a, b, c, d) = (wa·x0 + wb·x1) + (wc·x2 + wd·x3), each product exact
 * (w in {-1, 0, 1}); Float: per span of `span` columns a sum from +0.0 in
 * group order; Fast: per span the int8 entries summed exactly, times the
 * span's scale; per scale group the span sums in order from +0.0. The
 * integer kernels (Layout::IntVecLut) use the same scratch: a span of at
 * most 32 index bytes has 32 rows a byte, fewer than 16 groups' 81.
 * src/layout/mod.rs (veclut_f32_scratch_bytes) computes the same size. */
#define VLF_SPAN_GROUPS 16
#define VLF_XT_BYTES (VLF_SPAN_GROUPS * 4 * VECLUT_TOKENS * 4)
#define VLF_TABLE_BYTES (VLF_SPAN_GROUPS * VECLUT_PATTERNS * VECLUT_TOKENS * 4)
#define VLQ_TABLE8_BYTES (VLF_SPAN_GROUPS * VECLUT_PATTERNS * VECLUT_TOKENS)

static inline size_t lutgemm_veclut_f32_scratch_bytes(size_t rows, size_t nb)
{
    return VLF_XT_BYTES + VLF_TABLE_BYTES + VLQ_TABLE8_BYTES + VECLUT_TOKENS * 4 +
           rows * VECLUT_TOKENS * 4 * nb;
}

/* Integer vector-LUT (Layout::IntVecLut, src/layout/mod.rs;
 * kernels/veclut_int.h): an index byte holds the codes of 8/f columns in
 * fields of f bits (f = bits, 4 for 3-bit codes); each nibble selects one
 * of 16 table rows of VECLUT_TOKENS int16 sums Σ code·x over its columns.
 * Scratch:
 *
 *   xT     IVL_KBLOCK·8 columns (at most) × VECLUT_TOKENS int16
 *   tables IVL_KBLOCK index groups × 32 rows × VECLUT_TOKENS int16 (the
 *          low nibble's 16, then the high nibble's)
 *   qsT    VECLUT_TOKENS int32: the scale group's activation sums of the
 *          tile's tokens (offsets or zero point)
 *   acc16  rows × VECLUT_TOKENS int16 (partial sums within a flush run)
 *   then, unfused, acc32 as for the ternary vector-LUT (rows × nb ×
 *   VECLUT_TOKENS int32); fused, rows × VECLUT_TOKENS int32 (the scale
 *   group's sum across flush runs) and rows × VECLUT_TOKENS float (the
 *   fused accumulator, LUTGEMM_FUSE order).
 *
 * int16 partial sums are widened every IVL_FLUSH(bits) index groups: a
 * byte's two entries add at most (8/f)·(2^b − 1)·127 in magnitude, 1016 / 1524 / 1778 /
 * 3810 for b = 1..4, and 32·1016, 16·1524, 16·1778 and 8·3810 are all
 * <= 32767 (tests/intb.rs worst_case_overflow_inputs fails at twice these
 * cadences). src/layout/mod.rs (int_veclut_scratch_bytes) computes the
 * same size. */
#define IVL_KBLOCK 8
#define IVL_FLUSH(bits) ((bits) == 1 ? 32 : (bits) == 4 ? 8 : 16)
#define IVL_XT_BYTES (IVL_KBLOCK * 8 * VECLUT_TOKENS * 2)
#define IVL_TABLE_BYTES (IVL_KBLOCK * 32 * VECLUT_TOKENS * 2)
#define IVL_QSUM_BYTES (VECLUT_TOKENS * 4)

static inline size_t lutgemm_int_veclut_scratch_bytes(size_t rows, size_t nb, int fused)
{
    return IVL_XT_BYTES + IVL_TABLE_BYTES + IVL_QSUM_BYTES +
           rows * VECLUT_TOKENS * (2 + 4 * (fused ? 2 : nb));
}

#endif
