/* aarch64 Armv8.2-A + dotprod (SDOT) multiply-add kernels under the exact
 * contract: int8 activations in [-127, 127], exact int32 sums per token,
 * row and scale group (call contract: lutgemm_kernels.h; layouts:
 * src/layout/; spec: INT_KERNELS.md). Every extent is checked in Rust
 * before these run; here only the innermost loops live.
 *
 *   lutgemm_dotprod_ternary_mad  Layout::TernaryMad { mr: 8, kc: 64 }
 *   lutgemm_dotprod_int_mad      Layout::IntMad { mr: 16 }, bits 4 (kc 8)
 *                                or 2 (kc 16)
 *   lutgemm_dotprod_int_mad_fr, lutgemm_dotprod_ternary_mad_fr
 *                                Layout::MadFieldRows { mr: 64 } (2-bit
 *                                integers; ternary codes w + 1)
 *
 * Both write (never accumulate) every output of the call, padding rows
 * included, with plane_out == 1. int_mad also has the fused group scaling
 * mode of lutgemm_kernels.h (a->fuse): each block of <= 4 scale groups is
 * folded into the tokens' float outputs by im_fuse.h (dp_fuse_block), in
 * the portable kernel's order; i8mm.c shares it.
 *
 * i8mm.c #includes this file with LUTGEMM_ARM_DOTPROD_NO_ENTRY defined:
 * it reuses the static code paths below (its n = 1 path) without defining
 * the entry points a second time.
 *
 * ternary_mad: per row and chunk of 64 weights one 16-byte load holds the
 * 64 codes + 1 (byte j: weights j, j+16, j+32, j+48 in bits 0-1, 2-3, 4-5,
 * 6-7). Decoded by 4 single ops, each field either shifted down or masked
 * in place (then a known multiple of the field):
 *   f0 = v & 0x03 (x1)   f1 = v & 0x0c (x4)   f2 = v & 0x30 (x16)   f3 = v >> 6 (x1)
 * and 4 SDOT against the chunk's 4 x 16 activations into 3 accumulators
 * per row, A (x1: f0, f3), B (x4), C (x16): row sum = hsum(A + (B >> 2) +
 * (C >> 4)) - qsum (every lane of B and C is an exact multiple of 4 and
 * 16, so the shifts are exact). Masking in place saves 2 of the 6
 * shift/mask ops of the plain decode. One token: the 8 rows of a group
 * run as two passes of 4 rows (12 accumulators + 4 activations + masks fit
 * the 32 vector registers; 8 rows at once would spill), each pass loading
 * the chunk's 64 activations from L1. Two tokens (token pairs of n > 1):
 * passes of 2 rows x 2 tokens (12 accumulators, 8 activation vectors), one
 * decode feeding both tokens: 6 NEON ops per 64 token-weights against 8.
 * Row groups are outermost: a 4-row quad's bytes of one scale group stay in
 * L1 while every token of the call passes over them.
 *
 * int_mad: a 64-byte step holds 16 rows x 4 bytes; the 16-byte vector i is
 * rows 4i..4i+3, one row per 32-bit lane, so SDOT by element
 * (vdotq_laneq_s32, lane = which 4 activations) leaves each row's partial
 * sum in its own lane: no horizontal reduction, 4 rows per instruction.
 *   4 bits: lo = v & 0x0f (columns 8s..8s+3), hi = v >> 4 (8s+4..8s+7);
 *           one 16-byte activation load covers 2 steps (lanes 0-1, 2-3);
 *           one token: lo and hi in separate accumulators (two chains).
 *   2 bits: field f = columns 16s+4f..16s+4f+3 = lane f of the step's 16
 *           activations. One token: f0 = v & 3 (x1), f1 = v & 0x0c (x4),
 *           f2 = v & 0x30 (x16), f3 = v >> 6 (x1), 3 accumulators per
 *           4 rows as in ternary_mad. Several tokens: plain decode (6 ops,
 *           shared by the tokens), one accumulator per token and 4 rows.
 * Up to 4 tokens share each weight load and decode (n > 1: tiles of 4,
 * then 3, 2 or 1); the row-group loop is outermost so a row group
 * (16 x kp x bits/8 bytes) stays in cache while every token tile of the
 * call passes over it.
 *
 * Hot loops (GCC 12.2, the build.rs flags; aarch64-linux-gnu-objdump),
 * instructions per 1000 weights (per 1000 token-weights for n > 1), loop
 * overhead included; NEON ALU = decode + dot instructions:
 *   n = 1     ternary  164 (42 per 4 rows x 64): ALU 125, loads 23
 *                      (weights 2 ldp = 128 B, activations 4 ldr = 64 B)
 *             4 bits   156 (40 per 2 steps): ALU 125, loads 20 (4 ldp of
 *                      weights = 128 B, 1 ldr of activations)
 *             2 bits   148 (38 per step): ALU 125, loads 12 (2 ldp = 64 B
 *                      of weights, 1 ldr of activations)
 *   n >= 2    ternary pair 148 (ALU 94, loads 35: 8 activation loads)
 *             4 bits T = 2 / 3 / 4: 117 / 98 / 90
 *             2 bits T = 2 / 3 / 4: 133 / 105 / 96
 * No loop spills. At n = 1 every loop issues 32 NEON ALU ops per 256
 * weights and only 3-6 loads: on a 2-pipe core (Cortex-A76/N1) that is 16
 * cycles per 256 weights, a weight stream of 4 B/cycle (ternary, 2 bits)
 * or 8 B/cycle (4 bits), so the NEON pipes bound it unless the weights
 * come from DRAM at 4 bits; on 4-pipe cores (V1/V2, X-series) the 4-bit
 * and then the 2-bit weight stream (16 / 8 B per cycle) is the bound.
 * Activation loads are L1 hits (the ternary quad pass reloads 64 B per
 * 256 weights) and never the bound. Not timed: only qemu was available.
 *
 * int32 bounds (k <= MAX_K = 131072, so bp <= 131072; |q| <= 127): every
 * lane is bounded by the sum of |products| it accumulates.
 *   ternary: A <= 2*127*bp/2, B <= 4*2*127*bp/4, C <= 16*2*127*bp/4
 *            = 8*127*bp <= 1.33e8; the result |sum| <= 127*bp <= 1.66e7.
 *   int 4 bits: <= 15*127*bp <= 2.5e8.
 *   int 2 bits: C <= 16*3*127*bp/4 = 12*127*bp <= 2.0e8, others smaller.
 * SDOT wraps, it never saturates; nothing here comes near 2^31 - 1.
 *
 * Outputs: with nb == 1 a quad of 4 rows is one vector store; with nb > 1
 * up to 4 scale groups are collected per quad, transposed 4 x 4 and
 * stored as one vector per row (out[r*nb + b .. b+3]).
 */
#include <arm_neon.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "im_fuse.h"

#define DP_INLINE static inline __attribute__((always_inline))

#define DP_PRAGMA(x) _Pragma(#x)
#define DP_UNROLL DP_PRAGMA(GCC unroll 16)

#define S8(v) vreinterpretq_s8_u8(v)

/* A scheduling fence: loads stay on their side of it. GCC's pre-RA
 * scheduler otherwise hoists every weight load and decode of a step to the
 * top of the loop and, in the multi-token tiles (16 accumulators), spills
 * accumulators to the stack; fenced every 2 weight vectors those loops
 * have no spills. */
#define DP_FENCE() __asm__ volatile("" ::: "memory")

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

/* Sums of one row quad (lane i = row i) for G <= 4 consecutive scale
 * groups col[0..G) -> o[i*nb + bb] (o: row 0 of the quad, first group),
 * nb > 1: one 4 x 4 transpose, a vector store per row. Out of line: it
 * runs once per 4 scale groups, and inlined copies bloat the code. */
static __attribute__((noinline)) void dp_store_quad_nb(const int32x4_t *col, int G, int32_t *o,
                                                       size_t nb)
{
    const int32x4_t z = vdupq_n_s32(0);
    const int32x4_t c0 = col[0], c1 = G > 1 ? col[1] : z, c2 = G > 2 ? col[2] : z,
                    c3 = G > 3 ? col[3] : z;
    const int32x4_t t0 = vtrn1q_s32(c0, c1), t1 = vtrn2q_s32(c0, c1);
    const int32x4_t t2 = vtrn1q_s32(c2, c3), t3 = vtrn2q_s32(c2, c3);
    int32x4_t r[4];
    r[0] = vreinterpretq_s32_s64(vtrn1q_s64(vreinterpretq_s64_s32(t0), vreinterpretq_s64_s32(t2)));
    r[1] = vreinterpretq_s32_s64(vtrn1q_s64(vreinterpretq_s64_s32(t1), vreinterpretq_s64_s32(t3)));
    r[2] = vreinterpretq_s32_s64(vtrn2q_s64(vreinterpretq_s64_s32(t0), vreinterpretq_s64_s32(t2)));
    r[3] = vreinterpretq_s32_s64(vtrn2q_s64(vreinterpretq_s64_s32(t1), vreinterpretq_s64_s32(t3)));
    if (G == 4) {
        for (int i = 0; i < 4; i++)
            vst1q_s32(o + (size_t)i * nb, r[i]);
    } else {
        for (int i = 0; i < 4; i++) {
            int32_t tmp[4];
            vst1q_s32(tmp, r[i]);
            memcpy(o + (size_t)i * nb, tmp, (size_t)G * sizeof(int32_t));
        }
    }
}

/* The same for any nb: with nb == 1 (G == 1) the quad is 4 consecutive
 * outputs, one vector store. */
DP_INLINE void dp_store_quad(const int32x4_t *col, int G, int32_t *o, size_t nb)
{
    if (nb == 1)
        vst1q_s32(o, col[0]);
    else
        dp_store_quad_nb(col, G, o, nb);
}

/* ------------------------------------------------------------------------ */
/* Ternary: Layout::TernaryMad { mr: 8, kc: 64 }                             */
/* ------------------------------------------------------------------------ */

#define TM_MR 8
#define TM_KC 64
/* Bytes of one chunk of a row group: 8 rows x 16 bytes. */
#define TM_CB (TM_MR * TM_KC / 4)

#define TM_ROW(i, A, B, C)                                                      \
    do {                                                                        \
        const uint8x16_t v_ = vld1q_u8(wc + 16 * (i));                          \
        A = vdotq_s32(A, S8(vandq_u8(v_, m03)), q0);                            \
        B = vdotq_s32(B, S8(vandq_u8(v_, m0c)), q1);                            \
        C = vdotq_s32(C, S8(vandq_u8(v_, m30)), q2);                            \
        A = vdotq_s32(A, S8(vshrq_n_u8(v_, 6)), q3);                            \
    } while (0)

/* Σ (code + 1)·q of 4 rows (w: the first row's 16 bytes in the first
 * chunk; chunks TM_CB apart) over `chunks` chunks of activations x. */
DP_INLINE int32x4_t tm_quad(const uint8_t *w, const int8_t *x, size_t chunks)
{
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c), m30 = vdupq_n_u8(0x30);
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int32x4_t b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int32x4_t c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    for (size_t c = 0; c < chunks; c++) {
        const int8_t *xc = x + TM_KC * c;
        const int8x16_t q0 = vld1q_s8(xc), q1 = vld1q_s8(xc + 16), q2 = vld1q_s8(xc + 32),
                        q3 = vld1q_s8(xc + 48);
        const uint8_t *wc = w + TM_CB * c;
        TM_ROW(0, a0, b0, c0);
        TM_ROW(1, a1, b1, c1);
        TM_ROW(2, a2, b2, c2);
        TM_ROW(3, a3, b3, c3);
    }
    a0 = vsraq_n_s32(vsraq_n_s32(a0, b0, 2), c0, 4);
    a1 = vsraq_n_s32(vsraq_n_s32(a1, b1, 2), c1, 4);
    a2 = vsraq_n_s32(vsraq_n_s32(a2, b2, 2), c2, 4);
    a3 = vsraq_n_s32(vsraq_n_s32(a3, b3, 2), c3, 4);
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

/* Two tokens (x, x + xs) x rows a, b (w: row a's 16 bytes in the first
 * chunk, row b's right after) over `chunks` chunks: one decode per weight
 * load feeds both tokens (8 SDOT per 4 decode ops against 4 + 4).
 * Returns {a t0, b t0, a t1, b t1}. */
DP_INLINE int32x4_t tm_pair2(const uint8_t *w, const int8_t *x, size_t xs, size_t chunks)
{
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c), m30 = vdupq_n_u8(0x30);
    int32x4_t A[2][2], B[2][2], C[2][2]; /* [row][token] */
    DP_UNROLL
    for (int j = 0; j < 2; j++)
        DP_UNROLL
        for (int t = 0; t < 2; t++)
            A[j][t] = B[j][t] = C[j][t] = vdupq_n_s32(0);
    const uint8_t *wc = w;
    const int8_t *xc = x;
    for (size_t c = 0; c < chunks; c++, wc += TM_CB, xc += TM_KC) {
        int8x16_t q[2][4];
        DP_UNROLL
        for (int t = 0; t < 2; t++)
            DP_UNROLL
            for (int f = 0; f < 4; f++)
                q[t][f] = vld1q_s8(xc + (size_t)t * xs + 16 * f);
        DP_UNROLL
        for (int j = 0; j < 2; j++) {
            const uint8x16_t v = vld1q_u8(wc + 16 * j);
            const int8x16_t f0 = S8(vandq_u8(v, m03)), f1 = S8(vandq_u8(v, m0c));
            const int8x16_t f2 = S8(vandq_u8(v, m30)), f3 = S8(vshrq_n_u8(v, 6));
            DP_UNROLL
            for (int t = 0; t < 2; t++) {
                A[j][t] = vdotq_s32(A[j][t], f0, q[t][0]);
                B[j][t] = vdotq_s32(B[j][t], f1, q[t][1]);
                C[j][t] = vdotq_s32(C[j][t], f2, q[t][2]);
                A[j][t] = vdotq_s32(A[j][t], f3, q[t][3]);
            }
        }
    }
    int32x4_t s[2][2];
    DP_UNROLL
    for (int j = 0; j < 2; j++)
        DP_UNROLL
        for (int t = 0; t < 2; t++)
            s[j][t] = vsraq_n_s32(vsraq_n_s32(A[j][t], B[j][t], 2), C[j][t], 4);
    return vpaddq_s32(vpaddq_s32(s[0][0], s[1][0]), vpaddq_s32(s[0][1], s[1][1]));
}

#define TM_S64(v) vreinterpretq_s64_s32(v)
#define TM_S32(v) vreinterpretq_s32_s64(v)

/* All tokens x rows 4h..4h+3 of row group g x scale groups b0..b0+G-1:
 * token pairs by tm_pair2 (twice: rows 4h, 4h+1 and 4h+2, 4h+3), a last
 * odd token by tm_quad. */
DP_INLINE void tm_quad_groups(const lutgemm_kernel_args *a, size_t g, size_t h, size_t b0,
                              int G)
{
    const size_t nb = a->nb, bp = a->bp, chunks = bp / TM_KC;
    const size_t qs = a->qpad_stride, ss = a->qsum_stride, os = a->out_stride;
    const uint8_t *wq = a->w + g * a->w_stride + 4 * 16 * h;
    int32_t *o = (int32_t *)a->out + (g * TM_MR + 4 * h) * nb + b0;
    size_t t = 0;
    for (; t + 2 <= a->n; t += 2) {
        int32x4_t c0[4], c1[4];
        int bb = 0;
        do {
            const size_t b = b0 + (size_t)bb;
            const uint8_t *wb = wq + b * chunks * TM_CB;
            const int8_t *x = a->qpad + t * qs + b * bp;
            const int32x4_t p01 = tm_pair2(wb, x, qs, chunks);
            const int32x4_t p23 = tm_pair2(wb + 2 * 16, x, qs, chunks);
            c0[bb] = vsubq_s32(TM_S32(vzip1q_s64(TM_S64(p01), TM_S64(p23))),
                               vdupq_n_s32(a->qsum[t * ss + b]));
            c1[bb] = vsubq_s32(TM_S32(vzip2q_s64(TM_S64(p01), TM_S64(p23))),
                               vdupq_n_s32(a->qsum[(t + 1) * ss + b]));
        } while (++bb < G);
        dp_store_quad(c0, G, o + t * os, nb);
        dp_store_quad(c1, G, o + (t + 1) * os, nb);
    }
    if (t < a->n) {
        int32x4_t c0[4];
        int bb = 0;
        do {
            const size_t b = b0 + (size_t)bb;
            c0[bb] = vsubq_s32(tm_quad(wq + b * chunks * TM_CB, a->qpad + t * qs + b * bp, chunks),
                               vdupq_n_s32(a->qsum[t * ss + b]));
        } while (++bb < G);
        dp_store_quad(c0, G, o + t * os, nb);
    }
}

/* ------------------------------------------------------------------------ */
/* Integers: Layout::IntMad { mr: 16 }, bits 4 (kc 8) or 2 (kc 16)           */
/* ------------------------------------------------------------------------ */

#define IM_MR 16
#define IM_STEP 64
/* Most tokens per weight load (the SDOT tile). */
#define IM_TMAX 4
#ifndef IM_FENCE_T
#define IM_FENCE_T 4
#endif

/* 4 bits, one step at ws against activation vectors X[t], lanes L and
 * L + 1 (low and high nibbles). One token: low nibbles to acc, high to
 * acc2 (two chains per quad); several: both to acc. */
#define IM4_STEP(ws, X, L)                                                      \
    do {                                                                        \
        DP_UNROLL                                                               \
        for (int i = 0; i < 4; i++) {                                           \
            const uint8x16_t v_ = vld1q_u8((ws) + 16 * i);                      \
            const int8x16_t lo_ = S8(vandq_u8(v_, m0f));                        \
            const int8x16_t hi_ = S8(vshrq_n_u8(v_, 4));                        \
            DP_UNROLL                                                           \
            for (int t = 0; t < T; t++) {                                       \
                acc[t][i] = vdotq_laneq_s32(acc[t][i], lo_, X[t], (L));         \
                if (T == 1)                                                     \
                    acc2[i] = vdotq_laneq_s32(acc2[i], hi_, X[t], (L) + 1);     \
                else                                                            \
                    acc[t][i] = vdotq_laneq_s32(acc[t][i], hi_, X[t], (L) + 1); \
            }                                                                   \
            if (T >= IM_FENCE_T && (i & 1))                                     \
                DP_FENCE();                                                     \
        }                                                                       \
    } while (0)

/* T tokens (activations x + t*xs) x one row group (w) over steps
 * [s0, s1) of 4-bit weights: r[t][i] = rows 4i..4i+3 of token t. */
DP_INLINE void im4_steps(const uint8_t *w, const int8_t *x, size_t xs, const int T, size_t s0,
                         size_t s1, int32x4_t r[][4])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    int32x4_t acc[IM_TMAX][4], acc2[4];
    DP_UNROLL
    for (int i = 0; i < 4; i++) {
        acc2[i] = vdupq_n_s32(0);
        DP_UNROLL
        for (int t = 0; t < T; t++)
            acc[t][i] = vdupq_n_s32(0);
    }
    const uint8_t *ws = w + IM_STEP * s0;
    const uint8_t *const we = ws + IM_STEP * ((s1 - s0) & ~(size_t)1);
    const int8_t *xp = x + 8 * s0;
    for (; ws != we; ws += 2 * IM_STEP, xp += 16) {
        int8x16_t X[IM_TMAX];
        DP_UNROLL
        for (int t = 0; t < T; t++)
            X[t] = vld1q_s8(xp + (size_t)t * xs);
        IM4_STEP(ws, X, 0);
        IM4_STEP(ws + IM_STEP, X, 2);
    }
    if ((s1 - s0) & 1) {
        /* An odd last step: 8 activations (a 16-byte load could run past
         * the end of qpad). */
        int8x16_t X[IM_TMAX];
        DP_UNROLL
        for (int t = 0; t < T; t++)
            X[t] = vcombine_s8(vld1_s8(xp + (size_t)t * xs), vdup_n_s8(0));
        IM4_STEP(ws, X, 0);
    }
    DP_UNROLL
    for (int i = 0; i < 4; i++) {
        DP_UNROLL
        for (int t = 0; t < T; t++)
            r[t][i] = T == 1 ? vaddq_s32(acc[t][i], acc2[i]) : acc[t][i];
    }
}

/* 2 bits, T tokens x one row group over steps [s0, s1). */
DP_INLINE void im2_steps(const uint8_t *w, const int8_t *x, size_t xs, const int T, size_t s0,
                         size_t s1, int32x4_t r[][4])
{
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c), m30 = vdupq_n_u8(0x30);
    /* One token: acc[0] (x1), B (x4), C (x16); several: acc[t] only. */
    int32x4_t acc[IM_TMAX][4], B[4], C[4];
    DP_UNROLL
    for (int i = 0; i < 4; i++) {
        B[i] = C[i] = vdupq_n_s32(0);
        DP_UNROLL
        for (int t = 0; t < T; t++)
            acc[t][i] = vdupq_n_s32(0);
    }
    const uint8_t *ws = w + IM_STEP * s0;
    const uint8_t *const we = w + IM_STEP * s1;
    const int8_t *xp = x + 16 * s0;
    for (; ws != we; ws += IM_STEP, xp += 16) {
        int8x16_t X[IM_TMAX];
        DP_UNROLL
        for (int t = 0; t < T; t++)
            X[t] = vld1q_s8(xp + (size_t)t * xs);
        DP_UNROLL
        for (int i = 0; i < 4; i++) {
            const uint8x16_t v = vld1q_u8(ws + 16 * i);
            if (T == 1) {
                acc[0][i] = vdotq_laneq_s32(acc[0][i], S8(vandq_u8(v, m03)), X[0], 0);
                B[i] = vdotq_laneq_s32(B[i], S8(vandq_u8(v, m0c)), X[0], 1);
                C[i] = vdotq_laneq_s32(C[i], S8(vandq_u8(v, m30)), X[0], 2);
                acc[0][i] = vdotq_laneq_s32(acc[0][i], S8(vshrq_n_u8(v, 6)), X[0], 3);
            } else {
                const int8x16_t f0 = S8(vandq_u8(v, m03));
                const int8x16_t f1 = S8(vandq_u8(vshrq_n_u8(v, 2), m03));
                const int8x16_t f2 = S8(vandq_u8(vshrq_n_u8(v, 4), m03));
                const int8x16_t f3 = S8(vshrq_n_u8(v, 6));
                DP_UNROLL
                for (int t = 0; t < T; t++) {
                    acc[t][i] = vdotq_laneq_s32(acc[t][i], f0, X[t], 0);
                    acc[t][i] = vdotq_laneq_s32(acc[t][i], f1, X[t], 1);
                    acc[t][i] = vdotq_laneq_s32(acc[t][i], f2, X[t], 2);
                    acc[t][i] = vdotq_laneq_s32(acc[t][i], f3, X[t], 3);
                }
                if (T >= IM_FENCE_T && (i & 1))
                    DP_FENCE();
            }
        }
    }
    DP_UNROLL
    for (int i = 0; i < 4; i++) {
        DP_UNROLL
        for (int t = 0; t < T; t++)
            r[t][i] = T == 1 ? vsraq_n_s32(vsraq_n_s32(acc[0][i], B[i], 2), C[i], 4) : acc[t][i];
    }
}

/* Fused group scaling (im_fuse.h) of a block of G <= 4 scale groups from
 * b0 whose sums are st[token][quad][group], for T tokens of row group g:
 * each token's running sums live in its 16 float outputs between blocks.
 * Out of line: once per 4 groups. */
static __attribute__((noinline)) void dp_fuse_block(const lutgemm_kernel_args *a, size_t g,
                                                    size_t t0, int T, size_t b0, int G,
                                                    int32x4_t st[][4][4])
{
    for (int t = 0; t < T; t++) {
        const size_t tok = t0 + (size_t)t;
        float *o = (float *)a->out + tok * a->out_stride + g * IM_MR;
        float32x4_t acc[4];
        imf_load_acc(o, b0 == 0, acc);
        imf_groups(a, g, a->qsum + tok * a->qsum_stride, b0, G, &st[t][0][0], 4, 1, acc);
        imf_store_acc(o, acc);
    }
}

/* Tokens t0..t0+T-1 of row group g, all scale groups. */
DP_INLINE void im_tile(const lutgemm_kernel_args *a, size_t g, size_t t0, const int T,
                       const int B4)
{
    const size_t spg = a->bp / (B4 ? 8 : 16);
    const size_t nb = a->nb;
    const uint8_t *w = a->w + g * a->w_stride;
    const int8_t *x = a->qpad + t0 * a->qpad_stride;
    int32_t *o = (int32_t *)a->out + t0 * a->out_stride + g * IM_MR * nb;
    for (size_t b0 = 0; b0 < nb; b0 += 4) {
        const int G = nb - b0 < 4 ? (int)(nb - b0) : 4;
        int32x4_t st[IM_TMAX][4][4]; /* [token][quad][group] */
        /* do-while: G >= 1, and the compiler sees st[.][.][0] written. */
        int bb = 0;
        do {
            const size_t b = b0 + (size_t)bb;
            int32x4_t r[IM_TMAX][4];
            if (B4)
                im4_steps(w, x, a->qpad_stride, T, b * spg, (b + 1) * spg, r);
            else
                im2_steps(w, x, a->qpad_stride, T, b * spg, (b + 1) * spg, r);
            DP_UNROLL
            for (int t = 0; t < T; t++)
                DP_UNROLL
                for (int i = 0; i < 4; i++)
                    st[t][i][bb] = r[t][i];
        } while (++bb < G);
        if (a->fuse) {
            dp_fuse_block(a, g, t0, T, b0, G, st);
            continue;
        }
        DP_UNROLL
        for (int t = 0; t < T; t++)
            DP_UNROLL
            for (int i = 0; i < 4; i++)
                dp_store_quad(st[t][i], G, o + (size_t)t * a->out_stride + 4 * (size_t)i * nb + b0,
                              nb);
    }
}

/* Tokens [t0, t1) of row group g in SDOT tiles of <= IM_TMAX tokens. */
DP_INLINE void im_tokens(const lutgemm_kernel_args *a, size_t g, size_t t0, size_t t1,
                         const int B4)
{
    size_t t = t0;
    for (; t + 4 <= t1; t += 4)
        im_tile(a, g, t, 4, B4);
    switch (t1 - t) {
    case 3:
        im_tile(a, g, t, 3, B4);
        break;
    case 2:
        im_tile(a, g, t, 2, B4);
        break;
    case 1:
        im_tile(a, g, t, 1, B4);
        break;
    default:
        break;
    }
}

#define IM_REQUIRE_ARGS(a)                                                      \
    do {                                                                        \
        LUTGEMM_REQUIRE((a)->bits == 4 || (a)->bits == 2);                      \
        LUTGEMM_REQUIRE((a)->mr == IM_MR && (a)->kc == 32 / (a)->bits &&        \
                        (a)->plane_out == 1);                                   \
        LUTGEMM_REQUIRE((a)->bp % (a)->kc == 0);                                \
        LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID((a)->fuse));                         \
    } while (0)

#ifndef LUTGEMM_ARM_DOTPROD_NO_ENTRY

/* ------------------------------------------------------------------------ */
/* ABI entry points                                                          */
/* ------------------------------------------------------------------------ */

/* Row groups outermost: a row group's 4-row quad of one scale group (bp
 * bytes) stays in L1 while every token of the call passes over it. */
LUTGEMM_KERNEL(lutgemm_dotprod_ternary_mad)
{
    LUTGEMM_REQUIRE(a->mr == TM_MR && a->kc == TM_KC && a->plane_out == 1 && a->bits == 2 &&
                    a->w_stride == a->mr * a->nb * a->bp / 4);
    for (size_t g = 0; g < a->row_groups; g++)
        for (size_t h = 0; h < 2; h++)
            for (size_t b0 = 0; b0 < a->nb; b0 += 4)
                tm_quad_groups(a, g, h, b0, a->nb - b0 < 4 ? (int)(a->nb - b0) : 4);
}

LUTGEMM_KERNEL(lutgemm_dotprod_int_mad)
{
    IM_REQUIRE_ARGS(a);
    for (size_t g = 0; g < a->row_groups; g++) {
        if (a->bits == 4)
            im_tokens(a, g, 0, a->n, 1);
        else
            im_tokens(a, g, 0, a->n, 0);
    }
}

#endif

#ifndef LUTGEMM_ARM_DOTPROD_NO_ENTRY

/* ------------------------------------------------------------------------ */
/* Integers, 2 bits: Layout::MadFieldRows { mr: 64 }, kc 4                */
/* ------------------------------------------------------------------------ */

/* A 64-byte step is 64 rows x 4 columns: byte 4j + c holds the codes of
 * rows j, 16 + j, 32 + j, 48 + j (fields 0..3) at column c, so the 16-byte
 * vector q of a step is lanes j = 4q..4q+3, and one SDOT by element (the
 * step's 4 activations) per field gives rows 16f + 4q..16f + 4q + 3.
 * Fields as int8 operands: f0 = v & 0x03, f1 = v & 0x0c (4x), f2 = v & 0x30
 * (16x), f3 = v >> 6: at most 48, so the signed SDOT is exact; the 4x and
 * 16x sums shift back exactly at the end (|16 S2| <= 48 * 127 * 131072 <
 * 2^31). 8 NEON ops per 64 weights (3 AND, 1 USHR, 4 SDOT), as Layout
 * IntMad's one-token path, and no shifted accumulators to merge: the x86
 * AVX-512 kernel is the one this layout is for (x86 has no byte shifts);
 * this is its Arm twin, not selected by default (not measured on Arm
 * hardware). One token at a time, row groups outermost. */

#define FRD_MR 64

/* One step (its 64 bytes at ws) against activation lane L of X. */
#define FRD_STEP(ws, X, L)                                                      \
    do {                                                                        \
        DP_UNROLL                                                               \
        for (int q = 0; q < 4; q++) {                                           \
            const uint8x16_t v_ = vld1q_u8((ws) + 16 * q);                      \
            acc[0][q] = vdotq_laneq_s32(acc[0][q], S8(vandq_u8(v_, m03)), X, L); \
            acc[1][q] = vdotq_laneq_s32(acc[1][q], S8(vandq_u8(v_, m0c)), X, L); \
            acc[2][q] = vdotq_laneq_s32(acc[2][q], S8(vandq_u8(v_, m30)), X, L); \
            acc[3][q] = vdotq_laneq_s32(acc[3][q], S8(vshrq_n_u8(v_, 6)), X, L); \
        }                                                                       \
    } while (0)

/* Row sums of one row group (w) and token (x) over steps [s0, s1):
 * r[f][q] = rows 16f + 4q .. 16f + 4q + 3. */
DP_INLINE void frd_steps(const uint8_t *w, const int8_t *x, size_t s0, size_t s1,
                         int32x4_t r[4][4])
{
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c), m30 = vdupq_n_u8(0x30);
    int32x4_t acc[4][4];
    DP_UNROLL
    for (int f = 0; f < 4; f++)
        DP_UNROLL
        for (int q = 0; q < 4; q++)
            acc[f][q] = vdupq_n_s32(0);
    size_t s = s0;
    /* Four steps per activation load (16 activations, one lane each). */
    for (; s + 4 <= s1; s += 4) {
        const int8x16_t X = vld1q_s8(x + 4 * s);
        const uint8_t *ws = w + 64 * s;
        FRD_STEP(ws, X, 0);
        FRD_STEP(ws + 64, X, 1);
        FRD_STEP(ws + 128, X, 2);
        FRD_STEP(ws + 192, X, 3);
    }
    for (; s < s1; s++) {
        int32_t xv;
        memcpy(&xv, x + 4 * s, 4);
        const int8x16_t X = vreinterpretq_s8_s32(vdupq_n_s32(xv));
        FRD_STEP(w + 64 * s, X, 0);
    }
    DP_UNROLL
    for (int q = 0; q < 4; q++) {
        r[0][q] = acc[0][q];
        r[1][q] = vshrq_n_s32(acc[1][q], 2);
        r[2][q] = vshrq_n_s32(acc[2][q], 4);
        r[3][q] = acc[3][q];
    }
}

/* Row group g, token t, every scale group: int32 group sums (for ternary
 * codes w + 1, `tern`, less the group's activation sum), or fused (the
 * order of lutgemm_kernels.h, as imf_groups: per group the scale FMA, then
 * the offset FMA). */
static __attribute__((noinline)) void frd_tile(const lutgemm_kernel_args *a, size_t g, size_t t,
                                               int tern)
{
    const size_t spg = a->bp / 4, nb = a->nb;
    const uint8_t *w = a->w + g * a->w_stride;
    const int8_t *x = a->qpad + t * a->qpad_stride;
    if (a->fuse) {
        const int h = (a->fuse & LUTGEMM_FUSE_F16) != 0;
        const int off = (a->fuse & LUTGEMM_FUSE_OFFSETS) != 0;
        /* z = 2 at 2 bits, folded into the sums (0: none). */
        const int32_t z = (a->fuse & LUTGEMM_FUSE_ZERO_POINT) ? 2 : 0;
        const size_t esz = h ? 2 : 4, pg = FRD_MR * esz * (off ? 2 : 1);
        const uint8_t *base = (const uint8_t *)a->gscale + g * a->gscale_stride;
        float32x4_t facc[4][4];
        for (int f = 0; f < 4; f++)
            for (int q = 0; q < 4; q++)
                facc[f][q] = vdupq_n_f32(0.0f);
        for (size_t b = 0; b < nb; b++) {
            int32x4_t r[4][4];
            frd_steps(w, x, b * spg, (b + 1) * spg, r);
            const uint8_t *p = base + b * pg;
            const int32x4_t zq = vdupq_n_s32(z ? z * a->qsum[t * a->qsum_stride + b] : 0);
            for (int f = 0; f < 4; f++)
                for (int q = 0; q < 4; q++)
                    facc[f][q] = vfmaq_f32(facc[f][q], imf_load4(p + (16 * f + 4 * q) * esz, h),
                                           vcvtq_f32_s32(vsubq_s32(r[f][q], zq)));
            if (off) {
                const float32x4_t xq = vdupq_n_f32((float)a->qsum[t * a->qsum_stride + b]);
                for (int f = 0; f < 4; f++)
                    for (int q = 0; q < 4; q++)
                        facc[f][q] = vfmaq_f32(
                            facc[f][q], imf_load4(p + (FRD_MR + 16 * f + 4 * q) * esz, h), xq);
            }
        }
        float *o = (float *)a->out + t * a->out_stride + g * FRD_MR;
        for (int f = 0; f < 4; f++)
            for (int q = 0; q < 4; q++)
                vst1q_f32(o + 16 * f + 4 * q, facc[f][q]);
        return;
    }
    int32_t *o = (int32_t *)a->out + t * a->out_stride + g * FRD_MR * nb;
    for (size_t b = 0; b < nb; b++) {
        int32x4_t r[4][4];
        frd_steps(w, x, b * spg, (b + 1) * spg, r);
        const int32x4_t qs = vdupq_n_s32(tern ? a->qsum[t * a->qsum_stride + b] : 0);
        for (int f = 0; f < 4; f++)
            for (int q = 0; q < 4; q++) {
                const size_t row = (size_t)(16 * f + 4 * q);
                r[f][q] = vsubq_s32(r[f][q], qs);
                if (nb == 1) {
                    vst1q_s32(o + row, r[f][q]);
                } else {
                    int32_t tmp[4];
                    vst1q_s32(tmp, r[f][q]);
                    for (size_t l = 0; l < 4; l++)
                        o[(row + l) * nb + b] = tmp[l];
                }
            }
    }
}

LUTGEMM_KERNEL(lutgemm_dotprod_int_mad_fr)
{
    LUTGEMM_REQUIRE(a->bits == 2 && a->mr == FRD_MR && a->kc == 4 && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0);
    LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID(a->fuse));
    for (size_t g = 0; g < a->row_groups; g++)
        for (size_t t = 0; t < a->n; t++)
            frd_tile(a, g, t, 0);
}

/* Ternary weights on the same layout (codes w + 1): int32 group sums less
 * each group's activation sum. */
LUTGEMM_KERNEL(lutgemm_dotprod_ternary_mad_fr)
{
    LUTGEMM_REQUIRE(a->bits == 2 && a->mr == FRD_MR && a->kc == 4 && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0 && a->fuse == 0);
    for (size_t g = 0; g < a->row_groups; g++)
        for (size_t t = 0; t < a->n; t++)
            frd_tile(a, g, t, 1);
}

#endif
