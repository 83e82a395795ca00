/* aarch64 baseline NEON (Armv8.0-A: no dotprod, no i8mm) kernels for
 * ternary and 1-4-bit integer weights. Call contract: lutgemm_kernels.h;
 * layouts: src/layout/; tables: src/lut/; reference semantics: the portable
 * Rust kernels (src/kernels/portable/). Every extent is checked in Rust
 * before these run; here only the innermost loops live.
 *
 *   kernel                              layout, contract                      reads
 *   lutgemm_neon_ternary_mad            TernaryMad { mr: 8, kc: 64 }, Exact    w, qpad, qsum
 *   lutgemm_neon_ternary_lut_g2         TernaryLutG2 { mr: 64, kc: 4 }, Exact  w, tables
 *   lutgemm_neon_ternary_lut_g2_tables  = lut::ternary_g2::build_exact         qpad -> tables
 *   lutgemm_neon_ternary_lut_g4         TernaryLutG4 { mr: 64, kc: 4 }, Exact  w, tables
 *   lutgemm_neon_ternary_lut_g4_tables  = lut::ternary_g4::build_exact         qpad -> tables
 *   lutgemm_neon_int_mad                IntMad { mr: 16 } (kc 8 at 4 bits,     w, qpad
 *                                       16 at 2 bits), Exact; fused group      (+ qsum,
 *                                       scaling (a->fuse)                      gscale)
 *   lutgemm_neon_int_bitlut_g4          IntBitLutG4 { mr: 16 } (kc 8), bits    w, tables
 *                                       1..4, plane_out 1 or bits, Exact
 *   lutgemm_neon_int_bitlut_g4_tables   = lut::bit_g4::build_exact             qpad -> tables
 *   lutgemm_neon_int_bitlut_g4_fast     IntBitLutG4 { mr: 16 }, Fast: bit-     w, tables, tscale,
 *                                       identical to the portable kernel;      span
 *                                       portable Fast tables
 *   lutgemm_neon_int_bitlut_g4_float    IntBitLutG4 { mr: 16 }, Float:         w, tables, span
 *                                       portable Float tables; bit-identical
 *                                       to the portable kernel (see there)
 *   All: out, n and the strides of what they read; none reads xpad.
 *
 * Activations are int8 in [-127, 127] (src/activation.rs never produces
 * -128); every int16 bound below relies on it. Every kernel writes (never
 * accumulates across calls) all outputs of the call, padding rows included:
 * out[t * out_stride + (r * nb + b) * plane_out + p].
 *
 * Loop orders
 *   One order per family, the same on every ISA (avx512.c "Loop order").
 *   lut_g2: row groups outermost (one per pass here: a 16-entry table is
 *   one tbl register load per step), then the runs below; its small tables
 *   (64 B per step) stream from L2 in order beside one sequential weight
 *   stream per row group.
 *   lut_g4, bitlut_g4 *: per run of steps whose tables stay in L1
 *   (about 16 KB of one token's tables, divided by n when several tokens
 *   share the run), over all row groups of the call, over the tokens, over
 *   the run's int16 spans (Exact) or contract spans (Fast/Float). A run
 *   never splits a span, spans never cross a scale group. Each span is
 *   finished into the outputs (stored if it is its scale group's first
 *   span, else added: int32 add for Exact, f32 add for Fast/Float, spans
 *   in increasing order, as the portable kernel). With the tokens inside
 *   the row-group loop a row group's run of weights is reused from L1 by
 *   every token.
 *   Multiply-add kernels: row group, block of <= 4 scale groups, token,
 *   scale group (the block's weights stay in L1 while every token passes
 *   over them); outputs of <= 4 scale groups leave together (one st4 lane
 *   store per row when nb > 1). int_mad with short scale groups (1, 2 or
 *   4 steps, nb > 1): row group, token, all scale groups (im_small).
 *
 * Instruction counts of the hot loops (aarch64-linux-gnu-gcc 12.2 -O3, the
 * build.rs flags, counted in the objdump of the inner loop bodies, n = 1):
 * see the note "Instruction counts" at the end of this file.
 */
#include <arm_neon.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "im_fuse.h"

#define NI static inline __attribute__((always_inline))
#define NEON_PRAGMA(x) _Pragma(#x)
#define UNROLL NEON_PRAGMA(GCC unroll 16)

/* Keeps a vector in a register at this point. In int_mad's SMLAL loops
 * GCC otherwise moved accumulators between registers every step (4-bit
 * step 33-35 instructions instead of 28; 2-bit 72 instead of 63). */
#define PIN(v) __asm__("" : "+w"(v))

#define S8(v) vreinterpretq_s8_u8(v)
#define U8(v) vreinterpretq_u8_s8(v)

NI size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------------ */
/* Output columns                                                           */
/* ------------------------------------------------------------------------ */

/* Writes C (1..4) output columns of NQ quads of 4 rows: v[c][q] holds rows
 * 4q..4q+3 of column c; column c of row i goes to o[i * rs + c]. Stores
 * when `first`, else adds (int32 add / f32 add). When the C values of a row
 * are adjacent to the next row's (rs == C) a quad is one vst1/st2/st3/st4
 * (interleaving = the 4 x C transpose); otherwise one lane store per row
 * and C columns (st1/st2/st3/st4 by lane). */
#define LANES4(M) M(0) M(1) M(2) M(3)

#define DEFINE_PUT(NAME, T, V, VX2, VX3, VX4, SFX, ADD)                          \
    NI void NAME(T *o, size_t rs, const int C, const int NQ, V v[4][4], const int first) \
    {                                                                           \
        for (int q = 0; q < NQ; q++) {                                          \
            T *oq = o + (size_t)4 * q * rs;                                     \
            if (rs == (size_t)C) {                                              \
                if (C == 1) {                                                   \
                    V x = v[0][q];                                              \
                    if (!first)                                                 \
                        x = ADD(x, vld1q_##SFX(oq));                            \
                    vst1q_##SFX(oq, x);                                         \
                } else if (C == 2) {                                            \
                    VX2 x = {{v[0][q], v[1][q]}};                               \
                    if (!first) {                                               \
                        const VX2 y = vld2q_##SFX(oq);                          \
                        x.val[0] = ADD(x.val[0], y.val[0]);                     \
                        x.val[1] = ADD(x.val[1], y.val[1]);                     \
                    }                                                           \
                    vst2q_##SFX(oq, x);                                         \
                } else if (C == 3) {                                            \
                    VX3 x = {{v[0][q], v[1][q], v[2][q]}};                      \
                    if (!first) {                                               \
                        const VX3 y = vld3q_##SFX(oq);                          \
                        for (int c = 0; c < 3; c++)                             \
                            x.val[c] = ADD(x.val[c], y.val[c]);                 \
                    }                                                           \
                    vst3q_##SFX(oq, x);                                         \
                } else {                                                        \
                    VX4 x = {{v[0][q], v[1][q], v[2][q], v[3][q]}};             \
                    if (!first) {                                               \
                        const VX4 y = vld4q_##SFX(oq);                          \
                        for (int c = 0; c < 4; c++)                             \
                            x.val[c] = ADD(x.val[c], y.val[c]);                 \
                    }                                                           \
                    vst4q_##SFX(oq, x);                                         \
                }                                                               \
            } else if (C == 1) {                                                \
                V x = v[0][q];                                                  \
                if (!first) {                                                   \
                    V y = x;                                                    \
                    LANES4(NAME##_LD1)                                          \
                    x = ADD(x, y);                                              \
                }                                                               \
                LANES4(NAME##_ST1)                                              \
            } else if (C == 2) {                                                \
                VX2 x = {{v[0][q], v[1][q]}};                                   \
                if (!first) {                                                   \
                    VX2 y = x;                                                  \
                    LANES4(NAME##_LD2)                                          \
                    for (int c = 0; c < 2; c++)                                 \
                        x.val[c] = ADD(x.val[c], y.val[c]);                     \
                }                                                               \
                LANES4(NAME##_ST2)                                              \
            } else if (C == 3) {                                                \
                VX3 x = {{v[0][q], v[1][q], v[2][q]}};                          \
                if (!first) {                                                   \
                    VX3 y = x;                                                  \
                    LANES4(NAME##_LD3)                                          \
                    for (int c = 0; c < 3; c++)                                 \
                        x.val[c] = ADD(x.val[c], y.val[c]);                     \
                }                                                               \
                LANES4(NAME##_ST3)                                              \
            } else {                                                            \
                /* via a quad-major copy: one LD1 x4 fills the 4            \
                 * consecutive registers ST4 needs (GCC otherwise moves      \
                 * them in one by one) */                                    \
                T tq[4][4] __attribute__((aligned(16)));                        \
                for (int c = 0; c < 4; c++)                                     \
                    vst1q_##SFX(tq[c], v[c][q]);                                \
                VX4 x = vld1q_##SFX##_x4(tq[0]);                                \
                if (!first) {                                                   \
                    VX4 y = x;                                                  \
                    LANES4(NAME##_LD4)                                          \
                    for (int c = 0; c < 4; c++)                                 \
                        x.val[c] = ADD(x.val[c], y.val[c]);                     \
                }                                                               \
                LANES4(NAME##_ST4)                                              \
            }                                                                   \
        }                                                                       \
    }

#define put_s32_LD1(i) y = vld1q_lane_s32(oq + (i) * rs, y, i);
#define put_s32_ST1(i) vst1q_lane_s32(oq + (i) * rs, x, i);
#define put_s32_LD2(i) y = vld2q_lane_s32(oq + (i) * rs, y, i);
#define put_s32_ST2(i) vst2q_lane_s32(oq + (i) * rs, x, i);
#define put_s32_LD3(i) y = vld3q_lane_s32(oq + (i) * rs, y, i);
#define put_s32_ST3(i) vst3q_lane_s32(oq + (i) * rs, x, i);
#define put_s32_LD4(i) y = vld4q_lane_s32(oq + (i) * rs, y, i);
#define put_s32_ST4(i) vst4q_lane_s32(oq + (i) * rs, x, i);
#define put_f32_LD1(i) y = vld1q_lane_f32(oq + (i) * rs, y, i);
#define put_f32_ST1(i) vst1q_lane_f32(oq + (i) * rs, x, i);
#define put_f32_LD2(i) y = vld2q_lane_f32(oq + (i) * rs, y, i);
#define put_f32_ST2(i) vst2q_lane_f32(oq + (i) * rs, x, i);
#define put_f32_LD3(i) y = vld3q_lane_f32(oq + (i) * rs, y, i);
#define put_f32_ST3(i) vst3q_lane_f32(oq + (i) * rs, x, i);
#define put_f32_LD4(i) y = vld4q_lane_f32(oq + (i) * rs, y, i);
#define put_f32_ST4(i) vst4q_lane_f32(oq + (i) * rs, x, i);

DEFINE_PUT(put_s32, int32_t, int32x4_t, int32x4x2_t, int32x4x3_t, int32x4x4_t, s32, vaddq_s32)
DEFINE_PUT(put_f32, float, float32x4_t, float32x4x2_t, float32x4x3_t, float32x4x4_t, f32, vaddq_f32)

/* ------------------------------------------------------------------------ */
/* Spans and runs of the table kernels                                      */
/* ------------------------------------------------------------------------ */

/* Steps are the layout's k steps (4 weights for lut_g2/g4, 8 for bitlut);
 * a scale group has spb steps. A span is at most W steps and never crosses
 * a scale group: [s, span_end(s)). */
NI size_t span_end(size_t s, size_t spb, size_t W)
{
    const size_t b0 = s - s % spb;
    const size_t e = b0 + ((s - b0) / W + 1) * W;
    return e < b0 + spb ? e : b0 + spb;
}

/* A run: whole spans from s0 totalling at most `run` steps (at least one
 * span). */
NI size_t run_end(size_t s0, size_t total, size_t spb, size_t W, size_t run)
{
    size_t s1 = span_end(s0, spb, W);
    while (s1 < total) {
        const size_t e = span_end(s1, spb, W);
        if (e - s0 > run)
            break;
        s1 = e;
    }
    return s1;
}

/* Steps per run for n tokens sharing it: `budget` steps of one token's
 * tables (~16 KB) divided among the tokens, at least one span. */
NI size_t run_steps(size_t budget, size_t n) { return n > 1 ? budget / (n < 8 ? n : 8) : budget; }

/* Exact int16 row sums of one 16-row block from the byte-split lookups.
 *
 * Every exact table entry is T = lo + 256 * hi (lo the unsigned low byte,
 * hi the signed high byte). A span accumulates A += lo (u16 lanes, by
 * uaddw) and H += hi (s8 lanes, 16 rows per add); both may wrap. Modulo
 * 2^16, A ≡ Σ lo and 256 * H ≡ 256 * Σ hi (256 * H mod 2^16 depends only
 * on H mod 2^8), so A + (H << 8) ≡ Σ T (mod 2^16). Each kernel bounds
 * |Σ T| <= 32767 over a span, so this int16 is the exact sum. 3 adds per
 * 16 rows and lookup pair (lo, hi) instead of 2 zips + 2 adds. */
NI int16x8_t exact16_lo(uint16x8_t A0, uint8x16_t H)
{
    return vreinterpretq_s16_u16(vaddq_u16(A0, vshll_n_u8(vget_low_u8(H), 8)));
}
NI int16x8_t exact16_hi(uint16x8_t A1, uint8x16_t H)
{
    return vreinterpretq_s16_u16(vaddq_u16(A1, vshll_high_n_u8(H, 8)));
}

/* Rows 0..15 as 4 int32 vectors from two int16 vectors (rows 0..7, 8..15). */
NI void widen16(int16x8_t s0, int16x8_t s1, int32x4_t v[4])
{
    v[0] = vmovl_s16(vget_low_s16(s0));
    v[1] = vmovl_high_s16(s0);
    v[2] = vmovl_s16(vget_low_s16(s1));
    v[3] = vmovl_high_s16(s1);
}

/* The exact int32 row sums of 64 rows (4 blocks of 16: A[2q], A[2q+1],
 * H[q]) to the outputs. The accumulators are read with constant indices
 * only (fully unrolled), so GCC keeps them in registers in the span loop
 * (an indexed read here made it store all of them every step). */
NI void flush64(const uint16x8_t A[8], const uint8x16_t H[4], int32_t *o, size_t rs, int first)
{
    int32x4_t v[4][4][4];
    UNROLL
    for (int q = 0; q < 4; q++)
        widen16(exact16_lo(A[2 * q], H[q]), exact16_hi(A[2 * q + 1], H[q]), v[q][0]);
    for (int q = 0; q < 4; q++)
        put_s32(o + 16 * q * rs, rs, 1, 4, v[q], first);
}

/* ======================================================================== */
/* Ternary multiply-add: Layout::TernaryMad { mr: 8, kc: 64 }               */
/* ======================================================================== */

/* A chunk is 64 weights x 8 rows = 128 bytes, row by row: one 16-byte load
 * per row holds the 64 codes + 1 ∈ {0, 1, 2}; field s (bits 2s..2s+1) of
 * byte j is weight j + 16 s, multiplied with x[16 s + j]. Byte shifts do
 * not cross bytes on NEON, so the decode is
 *   f0 = v & 3,  f1 = v & 0x0c (= 4 c1, in place),  f2 = (v >> 4) & 3,
 *   f3 = v >> 6
 * (5 ops instead of 6), and SMLAL/SMLAL2 multiply 8 byte pairs each into
 * int16 lanes: 8 per row and chunk. f0, f2, f3 go to accumulator A, f1 to
 * B (B is exactly 4 x its sum). Rows are done 4 at a time (4 A + 4 B + 4
 * int32 + 4 activation vectors + temporaries fit the 32 registers; the 4
 * rows of a pass are one 64-byte ld1).
 *
 * int16 bounds (|x| <= 127, code + 1 <= 2), per lane and chunk:
 *   A: 6 products (low and high halves of f0, f2, f3), |c x| <= 254,
 *      <= 1524; B: 2 products of |4 c x| <= 1016, <= 2032.
 *   TM_SPAN = 16 chunks: |A| <= 24384, |B| <= 32512 <= 32767 (17 chunks:
 *   B <= 34544, overflow); then SSRA folds A + (B >> 2) (B a multiple of
 *   4: exact), |A + (B >> 2)| <= 24384 + 8128 = 32512, and SADALP widens
 *   lane pairs into int32. The worst case (x = ±127 of one sign, all
 *   weights +1 or all -1) reaches exactly B = 32512 per span.
 * int32: |Σ (c+1) x| <= 2 * 127 * bp <= 6.7e7 for bp <= MAX_K = 2^17, and
 * the result Σ (c+1) x - Σ x (qsum) is within ±127 bp. */

#define TM_MR 8
#define TM_KC 64
#define TM_CHUNK (TM_MR * TM_KC / 4)
#define TM_SPAN 16

/* Rows at w (4 consecutive rows of chunk 0: 64 bytes) over nc <= TM_SPAN
 * chunks with activations x: adds the rows' lane-pair sums to acc[0..3]. */
NI void tm_rows4(const uint8_t *w, const int8_t *x, size_t nc, int32x4_t acc[4])
{
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c);
    int16x8_t A[4], B[4];
    for (int i = 0; i < 4; i++)
        A[i] = B[i] = vdupq_n_s16(0);
    for (size_t c = 0; c < nc; c++) {
        const int8x16x4_t xv = vld1q_s8_x4(x + TM_KC * c);
        const uint8x16x4_t wv = vld1q_u8_x4(w + TM_CHUNK * c);
        UNROLL
        for (int i = 0; i < 4; i++) {
            const uint8x16_t v = wv.val[i];
            const int8x16_t f0 = S8(vandq_u8(v, m03));
            const int8x16_t f1 = S8(vandq_u8(v, m0c));
            const int8x16_t f2 = S8(vandq_u8(vshrq_n_u8(v, 4), m03));
            const int8x16_t f3 = S8(vshrq_n_u8(v, 6));
            A[i] = vmlal_s8(A[i], vget_low_s8(f0), vget_low_s8(xv.val[0]));
            A[i] = vmlal_high_s8(A[i], f0, xv.val[0]);
            B[i] = vmlal_s8(B[i], vget_low_s8(f1), vget_low_s8(xv.val[1]));
            B[i] = vmlal_high_s8(B[i], f1, xv.val[1]);
            A[i] = vmlal_s8(A[i], vget_low_s8(f2), vget_low_s8(xv.val[2]));
            A[i] = vmlal_high_s8(A[i], f2, xv.val[2]);
            A[i] = vmlal_s8(A[i], vget_low_s8(f3), vget_low_s8(xv.val[3]));
            A[i] = vmlal_high_s8(A[i], f3, xv.val[3]);
        }
    }
    for (int i = 0; i < 4; i++)
        acc[i] = vpadalq_s16(acc[i], vsraq_n_s16(A[i], B[i], 2));
}

/* Row quad h (rows 4h..4h+3) of one row group over one scale group of
 * `chunks` chunks at wb (activations xb), minus the group's activation
 * sum: lane i = row 4h + i. */
NI int32x4_t tm_quad(const uint8_t *wb, const int8_t *xb, size_t chunks, int h, int32_t qs)
{
    int32x4_t acc[4];
    for (int i = 0; i < 4; i++)
        acc[i] = vdupq_n_s32(0);
    if (chunks == 4) /* TQ2_0-like blocks of 256: constant trip count
                        (whole call 298 -> 276 instructions / 1000 weights) */
        tm_rows4(wb + 64 * h, xb, 4, acc);
    else
        for (size_t c = 0; c < chunks; c += TM_SPAN)
            tm_rows4(wb + c * TM_CHUNK + 64 * h, xb + c * TM_KC, min_sz(TM_SPAN, chunks - c), acc);
    const int32x4_t r = vpaddq_s32(vpaddq_s32(acc[0], acc[1]), vpaddq_s32(acc[2], acc[3]));
    return vsubq_s32(r, vdupq_n_s32(qs));
}

LUTGEMM_KERNEL(lutgemm_neon_ternary_mad)
{
    LUTGEMM_REQUIRE(a->mr == TM_MR && a->kc == TM_KC && a->plane_out == 1 && a->bits == 2);
    LUTGEMM_REQUIRE(a->bp % TM_KC == 0 && a->w_stride == a->mr * a->nb * a->bp / 4);
    const size_t nb = a->nb, bp = a->bp, chunks = bp / TM_KC;
    for (size_t g = 0; g < a->row_groups; g++) {
        const uint8_t *wg = a->w + g * a->w_stride;
        for (size_t b0 = 0; b0 < nb; b0 += 4) {
            const int cnt = (int)min_sz(4, nb - b0);
            for (size_t t = 0; t < a->n; t++) {
                const int8_t *x = a->qpad + t * a->qpad_stride;
                const int32_t *qsum = a->qsum + t * a->qsum_stride;
                int32x4_t v[4][4];
                for (int c = 0; c < cnt; c++) {
                    const size_t b = b0 + (size_t)c;
                    const uint8_t *wb = wg + b * chunks * TM_CHUNK;
                    for (int h = 0; h < 2; h++)
                        v[c][h] = tm_quad(wb, x + b * bp, chunks, h, qsum[b]);
                }
                int32_t *o = (int32_t *)a->out + t * a->out_stride + g * TM_MR * nb + b0;
                put_s32(o, nb, cnt, 2, v, 1);
            }
        }
    }
}

/* ======================================================================== */
/* Ternary table lookup, g = 2: Layout::TernaryLutG2 { mr: 64, kc: 4 }      */
/* ======================================================================== */

/* Step p = 4 weights: 64 index bytes (one per row; low nibble -> group
 * 2p, high nibble -> group 2p + 1) and 64 table bytes (lo(2p), hi(2p),
 * lo(2p+1), hi(2p+1), 16 each; entries 9..15 are 0). Per 16 rows: AND and
 * USHR give the two index vectors, 4 TBL (one register each) look up the
 * four byte halves, and the exact16 scheme accumulates them (4 UADDW + 2
 * ADD): 13 instructions per 16 rows x 4 weights, plus one 64-byte table
 * load per step for all 64 rows.
 *
 * int16 bound: per step a row gains two entries |T| <= 2 * 127 = 254, at
 * most 508; G2_W = 64 steps give |Σ T| <= 32512 <= 32767 (65: 33020,
 * overflow), so exact16 is exact. The worst case (all x = ±127 of one
 * sign, all weights equal ±1) reaches 32512 per span. */

#define G2_MR 64
#define G2_W 64
#define G2_RUN 256 /* steps x 64 B of tables = 16 KB */

NI void g2_span(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, int32_t *o,
                size_t rs, int first)
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    uint16x8_t A[8];
    uint8x16_t H[4];
    for (int i = 0; i < 8; i++)
        A[i] = vdupq_n_u16(0);
    for (int i = 0; i < 4; i++)
        H[i] = vdupq_n_u8(0);
    for (size_t s = s0; s < s1; s++) {
        const uint8x16x4_t t = vld1q_u8_x4(tab + 64 * s);
        const uint8_t *ws = wg + G2_MR * s;
        UNROLL
        for (int q = 0; q < 4; q++) {
            const uint8x16_t idx = vld1q_u8(ws + 16 * q);
            const uint8x16_t i0 = vandq_u8(idx, m0f), i1 = vshrq_n_u8(idx, 4);
            const uint8x16_t l0 = vqtbl1q_u8(t.val[0], i0), h0 = vqtbl1q_u8(t.val[1], i0);
            const uint8x16_t l1 = vqtbl1q_u8(t.val[2], i1), h1 = vqtbl1q_u8(t.val[3], i1);
            A[2 * q] = vaddw_u8(A[2 * q], vget_low_u8(l0));
            A[2 * q + 1] = vaddw_high_u8(A[2 * q + 1], l0);
            A[2 * q] = vaddw_u8(A[2 * q], vget_low_u8(l1));
            A[2 * q + 1] = vaddw_high_u8(A[2 * q + 1], l1);
            H[q] = vaddq_u8(H[q], vaddq_u8(h0, h1));
        }
    }
    flush64(A, H, o, rs, first);
}

/* ======================================================================== */
/* Ternary table lookup, g = 4: Layout::TernaryLutG4 { mr: 64, kc: 4 }      */
/* ======================================================================== */

/* Step j = 4 weights: 64 index bytes (one per row, index 27(c0+1) +
 * 9(c1+1) + 3(c2+1) + (c3+1) <= 80) and 256 table bytes (128 low bytes,
 * 128 high bytes; entries 81..127 are 0). Only entries 0..95 are loaded:
 * TBL with 4 registers covers 0..63 and TBX with 2 registers, indexed by
 * idx - 64, fills 64..95 (for idx < 64 the wrapped index is >= 192, out of
 * range, and TBX leaves the TBL result). Per 16 rows: 1 SUB, 2 TBL4, 2 TBX2
 * and the exact16 accumulation (2 UADDW + 1 ADD): 9 instructions per 16
 * rows x 4 weights, plus 4 table loads (12 registers) per step. The 64
 * rows run as two passes of 32 (G4_QB = 2 blocks of 16): 12 table + 6
 * accumulator registers. All 64 at once (12 accumulators) made GCC copy
 * table registers (TBL needs consecutive ones) and spill: 53 instructions
 * per step and 64 rows, 46 of them vector ops, against 2 x 28 (2 x 20
 * vector) for two passes, which reload the 192 table bytes per pass.
 *
 * int16 bound: one entry per row and step, |T| <= 4 * 127 = 508; G4_W = 64
 * steps give <= 32512 <= 32767 (65: 33020, overflow). The worst case (all
 * x = ±127 of one sign, all weights equal ±1) reaches it. */

#define G4_MR 64
#define G4_W 64
#define G4_RUN 64 /* steps x 256 B of tables = 16 KB */

/* Rows 16 q0 .. 16 (q0 + G4_QB) - 1 of one row group over one span. */
#define G4_QB 2
NI void g4_span_rows(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, int q0,
                     int32_t *o, size_t rs, int first)
{
    const uint8x16_t c64 = vdupq_n_u8(64);
    uint16x8_t A[2 * G4_QB];
    uint8x16_t H[G4_QB];
    for (int i = 0; i < 2 * G4_QB; i++)
        A[i] = vdupq_n_u16(0);
    for (int i = 0; i < G4_QB; i++)
        H[i] = vdupq_n_u8(0);
    for (size_t s = s0; s < s1; s++) {
        const uint8_t *t = tab + 256 * s;
        const uint8x16x4_t lo4 = vld1q_u8_x4(t), hi4 = vld1q_u8_x4(t + 128);
        const uint8x16x2_t lo2 = vld1q_u8_x2(t + 64), hi2 = vld1q_u8_x2(t + 192);
        const uint8_t *ws = wg + G4_MR * s + 16 * q0;
        UNROLL
        for (int q = 0; q < G4_QB; q++) {
            const uint8x16_t idx = vld1q_u8(ws + 16 * q);
            const uint8x16_t i2 = vsubq_u8(idx, c64);
            const uint8x16_t l = vqtbx2q_u8(vqtbl4q_u8(lo4, idx), lo2, i2);
            const uint8x16_t h = vqtbx2q_u8(vqtbl4q_u8(hi4, idx), hi2, i2);
            A[2 * q] = vaddw_u8(A[2 * q], vget_low_u8(l));
            A[2 * q + 1] = vaddw_high_u8(A[2 * q + 1], l);
            H[q] = vaddq_u8(H[q], h);
        }
    }
    int32x4_t v[G4_QB][4][4];
    UNROLL
    for (int q = 0; q < G4_QB; q++)
        widen16(exact16_lo(A[2 * q], H[q]), exact16_hi(A[2 * q + 1], H[q]), v[q][0]);
    for (int q = 0; q < G4_QB; q++)
        put_s32(o + 16 * (q0 + q) * rs, rs, 1, 4, v[q], first);
}

NI void g4_span(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, int32_t *o,
                size_t rs, int first)
{
    for (int q0 = 0; q0 < G4_MR / 16; q0 += G4_QB)
        g4_span_rows(wg, tab, s0, s1, q0, o, rs, first);
}

/* The ternary table kernels' driver (see "Loop orders" at the top): G = 2
 * or 4 picks the span function; steps of 4 weights, spans of W steps. */
NI void ternary_lut(const lutgemm_kernel_args *a, const int G)
{
    const size_t MR = G == 2 ? G2_MR : G4_MR, W = G == 2 ? G2_W : G4_W;
    const size_t spb = a->bp / 4, total = a->nb * spb, nb = a->nb;
    const size_t run = run_steps(G == 2 ? G2_RUN : G4_RUN, a->n);
    /* lut_g2: one row group per pass, outermost; lut_g4: one pass over all
     * row groups inside each run ("Loop orders" at the top). */
    const size_t per_pass = G == 2 ? 1 : a->row_groups;
    for (size_t g0 = 0; g0 < a->row_groups; g0 += per_pass) {
        size_t s1;
        for (size_t s0 = 0; s0 < total; s0 = s1) {
            s1 = run_end(s0, total, spb, W, run);
            for (size_t g = g0; g < g0 + per_pass; g++) {
                const uint8_t *wg = a->w + g * a->w_stride;
                for (size_t t = 0; t < a->n; t++) {
                    const uint8_t *tab = a->tables + t * a->tables_stride;
                    int32_t *ot = (int32_t *)a->out + t * a->out_stride + g * MR * nb;
                    size_t e;
                    for (size_t s = s0; s < s1; s = e) {
                        e = span_end(s, spb, W);
                        const size_t b = s / spb;
                        if (G == 2)
                            g2_span(wg, tab, s, e, ot + b, nb, s == b * spb);
                        else
                            g4_span(wg, tab, s, e, ot + b, nb, s == b * spb);
                    }
                }
            }
        }
    }
}

LUTGEMM_KERNEL(lutgemm_neon_ternary_lut_g2)
{
    LUTGEMM_REQUIRE(a->mr == G2_MR && a->kc == 4 && a->plane_out == 1 && a->bits == 2);
    LUTGEMM_REQUIRE(a->bp % 4 == 0 && a->bp > 0 && a->w_stride == a->mr * a->nb * a->bp / 4);
    ternary_lut(a, 2);
}

LUTGEMM_KERNEL(lutgemm_neon_ternary_lut_g4)
{
    LUTGEMM_REQUIRE(a->mr == G4_MR && a->kc == 4 && a->plane_out == 1 && a->bits == 2);
    LUTGEMM_REQUIRE(a->bp % 4 == 0 && a->bp > 0 && a->w_stride == a->mr * a->nb * a->bp / 4);
    ternary_lut(a, 4);
}

/* ------------------------------------------------------------------------ */
/* Exact table builders (byte for byte lut::*::build_exact)                 */
/* ------------------------------------------------------------------------ */

/* Each builder computes a group's int16 entries as Σ_i coef_i[e] * x_i with
 * SMULL/SMLAL against the group's activations broadcast by LD2R/LD4R
 * (coefficients in {-1, 0, 1} or {0, 1}; |entry| <= 508, exact), then UZP1
 * / UZP2 on the entries' bytes give the low-byte and high-byte halves. */

/* g = 2: entry e = 3a + b < 9 is (a - 1) x0 + (b - 1) x1; 9..15 are 0. */
LUTGEMM_TABLE_BUILDER(lutgemm_neon_ternary_lut_g2_tables)
{
    int8_t ca[16], cb[16];
    for (int e = 0; e < 16; e++) {
        ca[e] = (int8_t)(e < 9 ? e / 3 - 1 : 0);
        cb[e] = (int8_t)(e < 9 ? e % 3 - 1 : 0);
    }
    const int8x16_t A = vld1q_s8(ca), B = vld1q_s8(cb);
    const size_t groups = a->kp / 2;
    for (size_t j = 0; j < groups; j++) {
        const int8x8x2_t x = vld2_dup_s8(a->qpad + 2 * j);
        const int16x8_t t0 = vmlal_s8(vmull_s8(vget_low_s8(A), x.val[0]), vget_low_s8(B), x.val[1]);
        const int16x8_t t1 = vmlal_s8(vmull_s8(vget_high_s8(A), x.val[0]), vget_high_s8(B), x.val[1]);
        const uint8x16_t b0 = vreinterpretq_u8_s16(t0), b1 = vreinterpretq_u8_s16(t1);
        const uint8x16x2_t r = {{vuzp1q_u8(b0, b1), vuzp2q_u8(b0, b1)}};
        vst1q_u8_x2(a->tables + 32 * j, r);
    }
}

/* g = 4: entry e = 27a + 9b + 3c + d < 81 is (a-1) x0 + (b-1) x1 + (c-1) x2
 * + (d-1) x3; 81..127 are 0. Entries 0..87 are computed (11 vectors of 8),
 * 88..127 stored as zeros. */
LUTGEMM_TABLE_BUILDER(lutgemm_neon_ternary_lut_g4_tables)
{
    int8_t coef[11][4][8];
    for (int v = 0; v < 11; v++)
        for (int l = 0; l < 8; l++) {
            const int e = 8 * v + l;
            const int d[4] = {e / 27, e / 9 % 3, e / 3 % 3, e % 3};
            for (int i = 0; i < 4; i++)
                coef[v][i][l] = (int8_t)(e < 81 ? d[i] - 1 : 0);
        }
    const uint8x16_t z = vdupq_n_u8(0);
    const size_t groups = a->kp / 4;
    for (size_t j = 0; j < groups; j++) {
        const int8x8x4_t x = vld4_dup_s8(a->qpad + 4 * j);
        uint8x16_t e[12];
        UNROLL
        for (int v = 0; v < 11; v++) {
            const int8x8x4_t c = vld1_s8_x4(coef[v][0]);
            int16x8_t t = vmull_s8(c.val[0], x.val[0]);
            t = vmlal_s8(t, c.val[1], x.val[1]);
            t = vmlal_s8(t, c.val[2], x.val[2]);
            t = vmlal_s8(t, c.val[3], x.val[3]);
            e[v] = vreinterpretq_u8_s16(t);
        }
        e[11] = z;
        uint8x16_t lo[6], hi[6];
        UNROLL
        for (int i = 0; i < 6; i++) {
            lo[i] = vuzp1q_u8(e[2 * i], e[2 * i + 1]);
            hi[i] = vuzp2q_u8(e[2 * i], e[2 * i + 1]);
        }
        uint8_t *o = a->tables + 256 * j;
        const uint8x16x4_t l0 = {{lo[0], lo[1], lo[2], lo[3]}}, l1 = {{lo[4], lo[5], z, z}};
        const uint8x16x4_t h0 = {{hi[0], hi[1], hi[2], hi[3]}}, h1 = {{hi[4], hi[5], z, z}};
        vst1q_u8_x4(o, l0);
        vst1q_u8_x4(o + 64, l1);
        vst1q_u8_x4(o + 128, h0);
        vst1q_u8_x4(o + 192, h1);
    }
}

/* Bit-serial g = 4: entry e is Σ_{bit c of e} x_c (|T| <= 508). */
LUTGEMM_TABLE_BUILDER(lutgemm_neon_int_bitlut_g4_tables)
{
    int8_t cf[4][16];
    for (int c = 0; c < 4; c++)
        for (int e = 0; e < 16; e++)
            cf[c][e] = (int8_t)((e >> c) & 1);
    const int8x16_t c0 = vld1q_s8(cf[0]), c1 = vld1q_s8(cf[1]);
    const int8x16_t c2 = vld1q_s8(cf[2]), c3 = vld1q_s8(cf[3]);
    const size_t groups = a->kp / 4;
    for (size_t j = 0; j < groups; j++) {
        const int8x8x4_t x = vld4_dup_s8(a->qpad + 4 * j);
        int16x8_t t0 = vmull_s8(vget_low_s8(c0), x.val[0]);
        int16x8_t t1 = vmull_s8(vget_high_s8(c0), x.val[0]);
        t0 = vmlal_s8(t0, vget_low_s8(c1), x.val[1]);
        t1 = vmlal_s8(t1, vget_high_s8(c1), x.val[1]);
        t0 = vmlal_s8(t0, vget_low_s8(c2), x.val[2]);
        t1 = vmlal_s8(t1, vget_high_s8(c2), x.val[2]);
        t0 = vmlal_s8(t0, vget_low_s8(c3), x.val[3]);
        t1 = vmlal_s8(t1, vget_high_s8(c3), x.val[3]);
        const uint8x16_t b0 = vreinterpretq_u8_s16(t0), b1 = vreinterpretq_u8_s16(t1);
        const uint8x16x2_t r = {{vuzp1q_u8(b0, b1), vuzp2q_u8(b0, b1)}};
        vst1q_u8_x2(a->tables + 32 * j, r);
    }
}

/* ======================================================================== */
/* Integer multiply-add: Layout::IntMad { mr: 16 }                          */
/* ======================================================================== */

/* A 64-byte step holds 16 rows x kc columns, one row per 32-bit lane:
 * vector k (bytes 16k..16k+15) is rows 4k..4k+3. Byte lanes pair with the
 * step's activations broadcast as 32-bit patterns (one LD2R for the 2
 * fields of a 4-bit step, one LD4R for the 4 fields of a 2-bit step):
 * lane 4r + j holds column j of its field. SMLAL (bytes 0..7: rows 4k, 4k+1) and
 * SMLAL2 (bytes 8..15: rows 4k+2, 4k+3) multiply weights (0..15, as s8)
 * by activations into int16 lanes (row, column j): accumulator A[2k] holds
 * rows 4k, 4k+1, A[2k+1] rows 4k+2, 4k+3. At the end of a span SADALP
 * adds lane pairs into int32 C[.] (row, column pair), and at the end of a
 * scale group ADDP of C[2k], C[2k+1] gives rows 4k..4k+3, one per lane.
 *   4 bits (kc 8): lo = v & 0x0f (columns 8s..8s+3), hi = v >> 4
 *     (8s+4..8s+7): 2 decode ops + 4 SMLAL(2) per vector.
 *   2 bits (kc 16): field f = (v >> 2f) & 3 (columns 16s+4f..+3; v >> 6
 *     needs no mask): 6 decode ops + 8 SMLAL(2) per vector.
 *
 * int16 bounds (|x| <= 127), per lane and step:
 *   4 bits: 2 products (lo, hi) <= 2 * 15 * 127 = 3810; IM4_SPAN = 8
 *           steps: <= 30480 <= 32767 (9: 34290, overflow).
 *   2 bits: 4 products (f = 0..3) <= 4 * 3 * 127 = 1524; IM2_SPAN = 21
 *           steps: <= 32004 <= 32767 (22: 33528, overflow).
 *   The worst case (x = ±127 of one sign, q = 2^bits - 1) reaches these.
 * int32: |sum| <= 15 * 127 * bp <= 2.5e8 for bp <= 2^17.
 *
 * n = 1 is one token per pass; several tokens run one after the other
 * over a block of <= 4 scale groups whose weights stay in L1 (each token
 * redoes the decode: 10 of 28 instructions per 4-bit step; sharing it
 * between 2 tokens needs 2 x 16 accumulators, more than the 32
 * registers hold with the decoded weights). */

#define IM_MR 16
#define IM_STEP 64
#define IM4_SPAN 8
#define IM2_SPAN 21

/* Steps [0, ns) from w / x: int16 lane sums added to A[0..7] (A[2k]: rows
 * 4k, 4k+1; A[2k+1]: rows 4k+2, 4k+3; lane = row x column). ns <= the
 * width's span. Called with a constant ns where it matters, so the loop
 * unrolls completely and every accumulator stays in one register. */
NI void im_steps(const uint8_t *w, const int8_t *x, size_t ns, const int BITS, int16x8_t A[8])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f), m03 = vdupq_n_u8(0x03);
    if (BITS == 4) {
        NEON_PRAGMA(GCC unroll 8)
        for (size_t s = 0; s < ns; s++) {
            const uint8x16x4_t v = vld1q_u8_x4(w + IM_STEP * s);
            /* LD2R: x[8s..8s+3] and x[8s+4..8s+7], each as a 32-bit
             * pattern in every lane (no alignment needed). */
            const int32x4x2_t xx = vld2q_dup_s32((const int32_t *)(const void *)(x + 8 * s));
            const int8x16_t xl = vreinterpretq_s8_s32(xx.val[0]);
            const int8x16_t xh = vreinterpretq_s8_s32(xx.val[1]);
            UNROLL
            for (int k = 0; k < 4; k++) {
                int8x16_t lo = S8(vandq_u8(v.val[k], m0f));
                int8x16_t hi = S8(vshrq_n_u8(v.val[k], 4));
                PIN(lo);
                PIN(hi);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(lo), vget_low_s8(xl));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], lo, xl);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(hi), vget_low_s8(xh));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], hi, xh);
            }
        }
    } else {
        for (size_t s = 0; s < ns; s++) {
            const uint8_t *ws = w + IM_STEP * s;
            /* LD4R: the 4 fields' activations, each broadcast. */
            const int32x4x4_t xx = vld4q_dup_s32((const int32_t *)(const void *)(x + 16 * s));
            const int8x16_t x0 = vreinterpretq_s8_s32(xx.val[0]);
            const int8x16_t x1 = vreinterpretq_s8_s32(xx.val[1]);
            const int8x16_t x2 = vreinterpretq_s8_s32(xx.val[2]);
            const int8x16_t x3 = vreinterpretq_s8_s32(xx.val[3]);
            UNROLL
            for (int k = 0; k < 4; k++) {
                const uint8x16_t v = vld1q_u8(ws + 16 * k);
                int8x16_t f0 = S8(vandq_u8(v, m03));
                int8x16_t f1 = S8(vandq_u8(vshrq_n_u8(v, 2), m03));
                int8x16_t f2 = S8(vandq_u8(vshrq_n_u8(v, 4), m03));
                int8x16_t f3 = S8(vshrq_n_u8(v, 6));
                PIN(f0);
                PIN(f1);
                PIN(f2);
                PIN(f3);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(f0), vget_low_s8(x0));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], f0, x0);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(f1), vget_low_s8(x1));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], f1, x1);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(f2), vget_low_s8(x2));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], f2, x2);
                A[2 * k] = vmlal_s8(A[2 * k], vget_low_s8(f3), vget_low_s8(x3));
                A[2 * k + 1] = vmlal_high_s8(A[2 * k + 1], f3, x3);
                PIN(A[2 * k]);
                PIN(A[2 * k + 1]);
            }
        }
    }
}

/* One scale group of `steps` steps (weights w, activations x at the
 * group's first column) -> 16 row sums r[0..3] (lane i of r[k]: row 4k+i).
 * A group of exactly 4 steps (4 bits: group 32; 2 bits: group 64) is one
 * span with a constant trip count, folded straight into rows (SADDLP +
 * ADDP); longer groups run spans of IM4_SPAN / IM2_SPAN steps (full 4-bit
 * spans with a constant trip count: 239 instructions per 8 steps with
 * the SADALP flush; whole call 263 -> 237 per 1000 weights against a
 * variable loop) into int32 lane-pair sums (SADALP). */
NI void im_group(const uint8_t *w, const int8_t *x, size_t steps, const int BITS, int32x4_t r[4])
{
    const size_t span = BITS == 4 ? IM4_SPAN : IM2_SPAN;
    const size_t kc = BITS == 4 ? 8 : 16;
    int16x8_t A[8];
    UNROLL
    for (int i = 0; i < 8; i++)
        A[i] = vdupq_n_s16(0);
    if (steps == 4) {
        im_steps(w, x, 4, BITS, A);
        UNROLL
        for (int k = 0; k < 4; k++)
            r[k] = vpaddq_s32(vpaddlq_s16(A[2 * k]), vpaddlq_s16(A[2 * k + 1]));
        return;
    }
    int32x4_t C[8];
    UNROLL
    for (int i = 0; i < 8; i++)
        C[i] = vdupq_n_s32(0);
    for (size_t s0 = 0; s0 < steps; s0 += span) {
        const size_t ns = min_sz(span, steps - s0);
        UNROLL
        for (int i = 0; i < 8; i++)
            A[i] = vdupq_n_s16(0);
        if (BITS == 4 && ns == IM4_SPAN)
            im_steps(w + IM_STEP * s0, x + kc * s0, IM4_SPAN, BITS, A);
        else
            im_steps(w + IM_STEP * s0, x + kc * s0, ns, BITS, A);
        UNROLL
        for (int i = 0; i < 8; i++)
            C[i] = vpadalq_s16(C[i], A[i]);
    }
    UNROLL
    for (int k = 0; k < 4; k++)
        r[k] = vpaddq_s32(C[2 * k], C[2 * k + 1]);
}

/* Short scale groups of STEPS = 1, 2 or 4 steps (4 bits: groups 16, 32 =
 * Q4_0; 2 bits: groups 16 = Q2_K, 32, 64), nb > 1, one row group and one
 * token, all nb groups: straight-line steps, rows folded by SADDLP + ADDP,
 * and every 4 groups one st4 lane store per row (out[r * nb + b .. b+3]).
 * One noinline instance per (BITS, STEPS), so that the register
 * allocation of each loop is its own. Whole call, 1024 x 4096, n = 1:
 * 4 bits group 32 474 -> 303, 2 bits group 64 372 -> 292 instructions
 * per 1000 weights (qemu count) against the general path. */
NI void im_small(const uint8_t *wg, const int8_t *x, size_t nb, size_t bp, int32_t *o,
                 const int BITS, const int STEPS)
{
    for (size_t b0 = 0; b0 < nb; b0 += 4) {
        const int cnt = (int)min_sz(4, nb - b0);
        /* stage[q][c]: rows 4q..4q+3 of group b0 + c (quad-major, so one
         * LD1 x4 loads the 4 consecutive registers ST4 needs) */
        int32_t stage[4][4][4] __attribute__((aligned(16)));
        for (int c = 0; c < cnt; c++) {
            const size_t b = b0 + (size_t)c;
            int16x8_t A[8];
            UNROLL
            for (int i = 0; i < 8; i++)
                A[i] = vdupq_n_s16(0);
            im_steps(wg + b * (size_t)STEPS * IM_STEP, x + b * bp, (size_t)STEPS, BITS, A);
            UNROLL
            for (int k = 0; k < 4; k++)
                vst1q_s32(stage[k][c], vpaddq_s32(vpaddlq_s16(A[2 * k]), vpaddlq_s16(A[2 * k + 1])));
        }
        int32_t *ob = o + b0;
        if (cnt == 4) {
            for (int q = 0; q < 4; q++) {
                const int32x4x4_t r = vld1q_s32_x4(stage[q][0]);
                vst4q_lane_s32(ob + (size_t)(4 * q + 0) * nb, r, 0);
                vst4q_lane_s32(ob + (size_t)(4 * q + 1) * nb, r, 1);
                vst4q_lane_s32(ob + (size_t)(4 * q + 2) * nb, r, 2);
                vst4q_lane_s32(ob + (size_t)(4 * q + 3) * nb, r, 3);
            }
        } else {
            for (int q = 0; q < 4; q++)
                for (int i = 0; i < 4; i++)
                    for (int c = 0; c < cnt; c++)
                        ob[(size_t)(4 * q + i) * nb + (size_t)c] = stage[q][c][i];
        }
    }
}

/* im_small with fused group scaling (im_fuse.h): token t of row group g,
 * every group's 16 row sums folded straight into 4 float accumulators, in
 * group order, then written as the row group's 16 float outputs. */
NI void im_small_fused(const lutgemm_kernel_args *a, size_t g, size_t t, const int BITS,
                       const int STEPS)
{
    const size_t nb = a->nb, bp = a->bp;
    const uint8_t *wg = a->w + g * a->w_stride;
    const int8_t *x = a->qpad + t * a->qpad_stride;
    const int32_t *qsum = a->qsum + t * a->qsum_stride;
    float32x4_t acc[4];
    imf_load_acc(NULL, 1, acc);
    for (size_t b = 0; b < nb; b++) {
        int16x8_t A[8];
        UNROLL
        for (int i = 0; i < 8; i++)
            A[i] = vdupq_n_s16(0);
        im_steps(wg + b * (size_t)STEPS * IM_STEP, x + b * bp, (size_t)STEPS, BITS, A);
        int32x4_t r[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            r[k] = vpaddq_s32(vpaddlq_s16(A[2 * k]), vpaddlq_s16(A[2 * k + 1]));
        imf_groups(a, g, qsum, b, 1, r, 1, 0, acc);
    }
    imf_store_acc((float *)a->out + t * a->out_stride + g * IM_MR, acc);
}

#define IM_SMALL(B, S)                                                          \
    static __attribute__((noinline)) void im_small_##B##_##S(                    \
        const uint8_t *wg, const int8_t *x, size_t nb, size_t bp, int32_t *o)    \
    {                                                                           \
        im_small(wg, x, nb, bp, o, B, S);                                       \
    }                                                                           \
    static __attribute__((noinline)) void im_small_fused_##B##_##S(              \
        const lutgemm_kernel_args *a, size_t g, size_t t)                       \
    {                                                                           \
        im_small_fused(a, g, t, B, S);                                          \
    }
IM_SMALL(4, 2)
IM_SMALL(4, 4)
IM_SMALL(2, 1)
IM_SMALL(2, 2)
IM_SMALL(2, 4)

NI void im_all(const lutgemm_kernel_args *a, const int BITS)
{
    const size_t nb = a->nb, bp = a->bp, steps = bp / (size_t)(32 / BITS);
    for (size_t g = 0; g < a->row_groups; g++) {
        const uint8_t *wg = a->w + g * a->w_stride;
        if (nb > 1 && (steps == 4 || steps == 2 || (BITS == 2 && steps == 1)) && a->fuse) {
            for (size_t t = 0; t < a->n; t++) {
                if (BITS == 4)
                    steps == 4 ? im_small_fused_4_4(a, g, t) : im_small_fused_4_2(a, g, t);
                else
                    steps == 4 ? im_small_fused_2_4(a, g, t)
                    : steps == 2 ? im_small_fused_2_2(a, g, t)
                                 : im_small_fused_2_1(a, g, t);
            }
            continue;
        }
        if (nb > 1 && (steps == 4 || steps == 2 || (BITS == 2 && steps == 1))) {
            for (size_t t = 0; t < a->n; t++) {
                const int8_t *x = a->qpad + t * a->qpad_stride;
                int32_t *o = (int32_t *)a->out + t * a->out_stride + g * IM_MR * nb;
                if (BITS == 4)
                    steps == 4 ? im_small_4_4(wg, x, nb, bp, o) : im_small_4_2(wg, x, nb, bp, o);
                else
                    steps == 4 ? im_small_2_4(wg, x, nb, bp, o)
                    : steps == 2 ? im_small_2_2(wg, x, nb, bp, o)
                                 : im_small_2_1(wg, x, nb, bp, o);
            }
            continue;
        }
        for (size_t b0 = 0; b0 < nb; b0 += 4) {
            const int cnt = (int)min_sz(4, nb - b0);
            for (size_t t = 0; t < a->n; t++) {
                const int8_t *x = a->qpad + t * a->qpad_stride;
                int32x4_t v[4][4];
                for (int c = 0; c < cnt; c++) {
                    const size_t b = b0 + (size_t)c;
                    im_group(wg + b * steps * IM_STEP, x + b * bp, steps, BITS, v[c]);
                }
                if (a->fuse) {
                    float *of = (float *)a->out + t * a->out_stride + g * IM_MR;
                    float32x4_t acc[4];
                    imf_load_acc(of, b0 == 0, acc);
                    imf_groups(a, g, a->qsum + t * a->qsum_stride, b0, cnt, &v[0][0], 1, 4, acc);
                    imf_store_acc(of, acc);
                    continue;
                }
                int32_t *o = (int32_t *)a->out + t * a->out_stride + g * IM_MR * nb + b0;
                put_s32(o, nb, cnt, 4, v, 1);
            }
        }
    }
}

/* Fused group scaling (a->fuse, im_fuse.h): the short-group path
 * (im_small_fused) folds each group's 16 row sums straight into 4 float
 * accumulators held over all groups of one (row group, token); the
 * general path folds each block of <= 4 groups into the token's 16 float
 * outputs (stored and reloaded exactly between blocks). Either way the
 * portable kernel's FMA order, lane by lane. Not timed (qemu only). */

/* One function per width: register allocation of the two inner loops
 * then does not interfere (inlined together, GCC added register copies to
 * the 4-bit loop). */
static __attribute__((noinline)) void im_all4(const lutgemm_kernel_args *a) { im_all(a, 4); }
static __attribute__((noinline)) void im_all2(const lutgemm_kernel_args *a) { im_all(a, 2); }

LUTGEMM_KERNEL(lutgemm_neon_int_mad)
{
    LUTGEMM_REQUIRE(a->bits == 4 || a->bits == 2);
    LUTGEMM_REQUIRE(a->mr == IM_MR && a->kc == 32 / a->bits && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0 && a->w_stride == IM_MR * a->nb * a->bp * a->bits / 8);
    LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID(a->fuse));
    if (a->bits == 4)
        im_all4(a);
    else
        im_all2(a);
}

/* ======================================================================== */
/* Bit-serial table lookup: Layout::IntBitLutG4 { mr: 16 }, kc 8            */
/* ======================================================================== */

/* A row group is 16 rows: for step s (8 columns) and plane p, the 16 index
 * bytes at 16 (s * bits + p) (byte r: low nibble -> group 2s, high nibble
 * -> group 2s + 1), so one 16-byte load per (step, plane) serves the whole
 * row group, lane = row, and the row group's weights are one sequential
 * stream. mr = 16 is NEON's 16 byte lanes: a TBL looks up 16 rows at once.
 *
 * Exact (tables: 64 bytes per step, lo(2s), hi(2s), lo(2s+1), hi(2s+1)):
 * per plane and step AND + USHR (2 index vectors), 4 TBL, exact16
 * accumulation (4 UADDW + 2 ADD): 12 instructions + 1 load per 16 rows x
 * 8 columns x 1 plane, one 64-byte table load per step for all planes.
 * Each plane has its own accumulators (A0, A1, H: 3 registers; 4 planes =
 * 12, + 4 table registers + temporaries fit the 32).
 *   int16 bound, per plane: a step adds two entries |T| <= 4 * 127 = 508,
 *   <= 1016; BL_W = 32 steps: <= 32512 <= 32767 (33: 33528, overflow), so
 *   exact16 is exact. Planes are never combined in int16 (4 bits would
 *   allow 2 steps). They are combined while widening: SMLAL(2) by 2^p
 *   into int32, |Σ 2^p P_p| <= 15 * 32512 per span, and in total
 *   <= 15 * 127 * bp <= 2.5e8 for bp <= 2^17. The worst case (x = ±127 of
 *   one sign, q = 2^bits - 1) reaches 32512 per plane and span.
 *
 * Fast (tables: 16 int8 entries per group, 32 bytes per step; one f32
 * scale per span of `span` <= 64 activations = <= 8 steps): per plane and
 * step AND + USHR, 2 TBL, and 4 SADDW (plane 0) or SMLAL(2) by 2^p into a
 * single int16 sum S of all planes (plane_out = 1), or 4 SADDW into the
 * plane's own sum (plane_out = bits).
 *   int16 bound: |T8| <= 127, per step Σ_p 2^p * 2 * 127 <= 15 * 254 =
 *   3810; a span has <= 8 steps: |S| <= 30480 <= 32767. Per plane <= 2032.
 *   Span end: v = (float)S * scale (exact conversion, one rounded f32
 *   multiply), out = first ? v : out + v (f32 add, spans in order, no FMA),
 *   exactly the portable kernel's operations: bit-identical.
 *
 * Float (tables: 16 f32 entries per group, 64 bytes, 128 bytes per step):
 * LD4 de-interleaves a group's 64 table bytes into 4 byte-plane tables
 * (byte c of every entry); per 16 rows 4 TBL (one register each) fetch the
 * 4 bytes of every row's entry and 8 ZIP rebuild the 16 f32 (rows in
 * order). 4 TBL + 8 ZIP per 16 lookups, against 4 TBL4 + 8 index-expansion
 * ops for looking up f32 directly in the 64-byte table (TBL4 is the slow
 * one). Adds in the portable kernel's order (step -> plane -> group 2s,
 * 2s+1), acc += 2^p * T by FMLA (the product by 2^p is exact, so this is
 * acc + fl(2^p T) of the portable kernel unless 2^p T overflows), out =
 * first ? acc : out + acc per span: bit-identical to the portable kernel
 * in practice (tested), deterministic always. */

#define BL_MR 16
#define BL_W 32
#define BL_RUN 256 /* steps x 64 B of exact tables = 16 KB */
#define BF_RUN 512 /* steps x 32 B of Fast tables = 16 KB */
#define BFL_RUN 128 /* steps x 128 B of Float tables = 16 KB */

/* The BITS index vectors of step s. */
NI void bl_idx(const uint8_t *ws, const int BITS, uint8x16_t idx[4])
{
    if (BITS == 4) {
        const uint8x16x4_t v = vld1q_u8_x4(ws);
        for (int p = 0; p < 4; p++)
            idx[p] = v.val[p];
    } else if (BITS == 3) {
        const uint8x16x3_t v = vld1q_u8_x3(ws);
        for (int p = 0; p < 3; p++)
            idx[p] = v.val[p];
    } else if (BITS == 2) {
        const uint8x16x2_t v = vld1q_u8_x2(ws);
        for (int p = 0; p < 2; p++)
            idx[p] = v.val[p];
    } else {
        idx[0] = vld1q_u8(ws);
    }
}

/* Exact: steps [s0, s1) of one span, one row group -> outputs o (row
 * stride rs; PO columns). */
NI void bl_span(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, const int BITS,
                const int PO, int32x4_t v[4][4])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    uint16x8_t A[4][2];
    uint8x16_t H[4];
    for (int p = 0; p < BITS; p++) {
        A[p][0] = A[p][1] = vdupq_n_u16(0);
        H[p] = vdupq_n_u8(0);
    }
    for (size_t s = s0; s < s1; s++) {
        const uint8x16x4_t t = vld1q_u8_x4(tab + 64 * s);
        uint8x16_t idx[4];
        bl_idx(wg + (size_t)16 * BITS * s, BITS, idx);
        UNROLL
        for (int p = 0; p < BITS; p++) {
            const uint8x16_t i0 = vandq_u8(idx[p], m0f), i1 = vshrq_n_u8(idx[p], 4);
            const uint8x16_t l0 = vqtbl1q_u8(t.val[0], i0), h0 = vqtbl1q_u8(t.val[1], i0);
            const uint8x16_t l1 = vqtbl1q_u8(t.val[2], i1), h1 = vqtbl1q_u8(t.val[3], i1);
            A[p][0] = vaddw_u8(A[p][0], vget_low_u8(l0));
            A[p][1] = vaddw_high_u8(A[p][1], l0);
            A[p][0] = vaddw_u8(A[p][0], vget_low_u8(l1));
            A[p][1] = vaddw_high_u8(A[p][1], l1);
            H[p] = vaddq_u8(H[p], vaddq_u8(h0, h1));
        }
    }
    if (PO == 1) {
        UNROLL
        for (int p = 0; p < BITS; p++) {
            const int16x8_t e0 = exact16_lo(A[p][0], H[p]), e1 = exact16_hi(A[p][1], H[p]);
            if (p == 0) {
                widen16(e0, e1, v[0]);
            } else {
                const int16_t m = (int16_t)(1 << p);
                v[0][0] = vmlal_n_s16(v[0][0], vget_low_s16(e0), m);
                v[0][1] = vmlal_high_n_s16(v[0][1], e0, m);
                v[0][2] = vmlal_n_s16(v[0][2], vget_low_s16(e1), m);
                v[0][3] = vmlal_high_n_s16(v[0][3], e1, m);
            }
        }

    } else {
        UNROLL
        for (int p = 0; p < BITS; p++)
            widen16(exact16_lo(A[p][0], H[p]), exact16_hi(A[p][1], H[p]), v[p]);

    }
}

/* Fast: one span, one row group; scale = the span's table scale. */
NI void bf_span(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, const int BITS,
                const int PO, float scale, float32x4_t v[4][4])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    int16x8_t S[4][2];
    for (int p = 0; p < 4; p++)
        S[p][0] = S[p][1] = vdupq_n_s16(0);
    for (size_t s = s0; s < s1; s++) {
        const int8x16x2_t t = vld1q_s8_x2((const int8_t *)tab + 32 * s);
        uint8x16_t idx[4];
        bl_idx(wg + (size_t)16 * BITS * s, BITS, idx);
        UNROLL
        for (int p = 0; p < BITS; p++) {
            const int8x16_t l = vqtbl1q_s8(t.val[0], vandq_u8(idx[p], m0f));
            const int8x16_t h = vqtbl1q_s8(t.val[1], vshrq_n_u8(idx[p], 4));
            const int q = PO == 1 ? 0 : p;
            if (PO == 1 && p > 0) {
                const int8x16_t m = vdupq_n_s8((int8_t)(1 << p));
                S[0][0] = vmlal_s8(S[0][0], vget_low_s8(l), vget_low_s8(m));
                S[0][1] = vmlal_high_s8(S[0][1], l, m);
                S[0][0] = vmlal_s8(S[0][0], vget_low_s8(h), vget_low_s8(m));
                S[0][1] = vmlal_high_s8(S[0][1], h, m);
            } else {
                S[q][0] = vaddw_s8(S[q][0], vget_low_s8(l));
                S[q][1] = vaddw_high_s8(S[q][1], l);
                S[q][0] = vaddw_s8(S[q][0], vget_low_s8(h));
                S[q][1] = vaddw_high_s8(S[q][1], h);
            }
        }
    }
    UNROLL
    for (int c = 0; c < PO; c++) {
        int32x4_t w[4];
        widen16(S[c][0], S[c][1], w);
        for (int i = 0; i < 4; i++)
            v[c][i] = vmulq_n_f32(vcvtq_f32_s32(w[i]), scale);
    }
}

/* Float: the 16 f32 entries of a group, as 4 byte-plane tables (g.val[c]
 * = byte c of every entry), looked up for the 16 rows' indices e (0..15):
 * f[i] = the entries of rows 4i..4i+3. */
NI void bfl_lookup(const uint8x16x4_t g, uint8x16_t e, float32x4_t f[4])
{
    const uint8x16_t b0 = vqtbl1q_u8(g.val[0], e), b1 = vqtbl1q_u8(g.val[1], e);
    const uint8x16_t b2 = vqtbl1q_u8(g.val[2], e), b3 = vqtbl1q_u8(g.val[3], e);
    const uint16x8_t z01l = vreinterpretq_u16_u8(vzip1q_u8(b0, b1));
    const uint16x8_t z01h = vreinterpretq_u16_u8(vzip2q_u8(b0, b1));
    const uint16x8_t z23l = vreinterpretq_u16_u8(vzip1q_u8(b2, b3));
    const uint16x8_t z23h = vreinterpretq_u16_u8(vzip2q_u8(b2, b3));
    f[0] = vreinterpretq_f32_u16(vzip1q_u16(z01l, z23l));
    f[1] = vreinterpretq_f32_u16(vzip2q_u16(z01l, z23l));
    f[2] = vreinterpretq_f32_u16(vzip1q_u16(z01h, z23h));
    f[3] = vreinterpretq_f32_u16(vzip2q_u16(z01h, z23h));
}

NI void bfl_add(float32x4_t acc[4], const float32x4_t f[4], int p)
{
    for (int i = 0; i < 4; i++)
        acc[i] = p == 0 ? vaddq_f32(acc[i], f[i]) : vfmaq_n_f32(acc[i], f[i], (float)(1 << p));
}

NI void bfl_span(const uint8_t *wg, const uint8_t *tab, size_t s0, size_t s1, const int BITS,
                 const int PO, float32x4_t v[4][4])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    if (PO == 1) {
        float32x4_t acc[4];
        for (int i = 0; i < 4; i++)
            acc[i] = vdupq_n_f32(0.0f);
        for (size_t s = s0; s < s1; s++) {
            const uint8x16x4_t g0 = vld4q_u8(tab + 128 * s), g1 = vld4q_u8(tab + 128 * s + 64);
            uint8x16_t idx[4];
            bl_idx(wg + (size_t)16 * BITS * s, BITS, idx);
            for (int p = 0; p < BITS; p++) {
                float32x4_t f[4];
                bfl_lookup(g0, vandq_u8(idx[p], m0f), f);
                bfl_add(acc, f, p);
                bfl_lookup(g1, vshrq_n_u8(idx[p], 4), f);
                bfl_add(acc, f, p);
            }
        }
        for (int i = 0; i < 4; i++)
            v[0][i] = acc[i];
    } else {
        /* One plane at a time (each plane's sum sees its entries in the
         * same order as in the portable kernel). */
        for (int p = 0; p < BITS; p++) {
            float32x4_t acc[4];
            for (int i = 0; i < 4; i++)
                acc[i] = vdupq_n_f32(0.0f);
            for (size_t s = s0; s < s1; s++) {
                const uint8x16x4_t g0 = vld4q_u8(tab + 128 * s), g1 = vld4q_u8(tab + 128 * s + 64);
                const uint8x16_t idx = vld1q_u8(wg + (size_t)16 * (BITS * s + (size_t)p));
                float32x4_t f[4];
                bfl_lookup(g0, vandq_u8(idx, m0f), f);
                bfl_add(acc, f, 0);
                bfl_lookup(g1, vshrq_n_u8(idx, 4), f);
                bfl_add(acc, f, 0);
            }
            for (int i = 0; i < 4; i++)
                v[p][i] = acc[i];
        }
    }
}

#define BL_EXACT 0
#define BL_FAST 1
#define BL_FLOAT 2

/* One span of one row group and token -> its PO output columns (int32, or
 * f32 bits for Fast/Float) in v. */
NI void bl_span_any(const lutgemm_kernel_args *a, const uint8_t *wg, const uint8_t *tab,
                    size_t t, size_t s, size_t e, size_t W, const int KIND, const int BITS,
                    const int PO, int32x4_t v[4][4])
{
    if (KIND == BL_EXACT) {
        bl_span(wg, tab, s, e, BITS, PO, v);
    } else {
        float32x4_t f[4][4];
        if (KIND == BL_FAST)
            bf_span(wg, tab, s, e, BITS, PO, a->tscale[t * a->tscale_stride + s / W], f);
        else
            bfl_span(wg, tab, s, e, BITS, PO, f);
        for (int c = 0; c < PO; c++)
            for (int i = 0; i < 4; i++)
                v[c][i] = vreinterpretq_s32_f32(f[c][i]);
    }
}

/* The bit-serial kernels' driver (see "Loop orders" at the top). KIND,
 * BITS and PO are constants in each instantiation, so the plane loops
 * unroll. Spans: BL_W steps (Exact, int16 cadence) or span / 8 steps
 * (Fast and Float: the contract's spans). Within a run the scale group of
 * a span is tracked incrementally (no division per span).
 * Short scale groups (every span a whole group: bp <= 256 Exact, bp <= 64
 * Fast/Float) with nb > 1: 4 groups' columns are staged quad-major and
 * written with one st4 lane store per row and 4 columns (a row's 4 * PO
 * outputs of 4 consecutive groups are adjacent). */
NI void bl_all(const lutgemm_kernel_args *a, const int KIND, const int BITS, const int PO)
{
    const size_t spb = a->bp / 8, total = a->nb * spb, nb = a->nb;
    const size_t W = KIND == BL_EXACT ? BL_W : a->span / 8;
    const size_t budget = KIND == BL_EXACT ? BL_RUN : KIND == BL_FAST ? BF_RUN : BFL_RUN;
    const size_t run = run_steps(budget, a->n);
    const size_t rs = nb * (size_t)PO;
    const int whole = spb <= W && nb > 1;
    size_t s1;
    for (size_t s0 = 0; s0 < total; s0 = s1) {
        s1 = run_end(s0, total, spb, W, run);
        const size_t bfirst = s0 / spb;
        for (size_t g = 0; g < a->row_groups; g++) {
            const uint8_t *wg = a->w + g * a->w_stride;
            for (size_t t = 0; t < a->n; t++) {
                const uint8_t *tab = a->tables + t * a->tables_stride;
                int32_t *ot = (int32_t *)a->out + t * a->out_stride + g * BL_MR * rs;
                if (whole) {
                    const size_t blast = s1 / spb;
                    for (size_t b0 = bfirst; b0 < blast; b0 += 4) {
                        const int cnt = (int)min_sz(4, blast - b0);
                        /* stage[q][col]: rows 4q..4q+3 of column col =
                         * (b - b0) * PO + p */
                        int32_t stage[4][16][4] __attribute__((aligned(16)));
                        for (int c = 0; c < cnt; c++) {
                            const size_t b = b0 + (size_t)c;
                            int32x4_t v[4][4];
                            bl_span_any(a, wg, tab, t, b * spb, (b + 1) * spb, W, KIND, BITS, PO, v);
                            for (int p = 0; p < PO; p++)
                                for (int q = 0; q < 4; q++)
                                    vst1q_s32(stage[q][c * PO + p], v[p][q]);
                        }
                        int32_t *ob = ot + b0 * (size_t)PO;
                        if (cnt == 4) {
                            for (int q = 0; q < 4; q++)
                                for (int j = 0; j < PO; j++) {
                                    const int32x4x4_t r = vld1q_s32_x4(stage[q][4 * j]);
                                    int32_t *oq = ob + (size_t)(4 * q) * rs + (size_t)(4 * j);
                                    vst4q_lane_s32(oq, r, 0);
                                    vst4q_lane_s32(oq + rs, r, 1);
                                    vst4q_lane_s32(oq + 2 * rs, r, 2);
                                    vst4q_lane_s32(oq + 3 * rs, r, 3);
                                }
                        } else {
                            for (int q = 0; q < 4; q++)
                                for (int i = 0; i < 4; i++)
                                    for (int c = 0; c < cnt * PO; c++)
                                        ob[(size_t)(4 * q + i) * rs + (size_t)c] = stage[q][c][i];
                        }
                    }
                    continue;
                }
                size_t b = bfirst, bend = (b + 1) * spb, e;
                for (size_t s = s0; s < s1; s = e) {
                    if (s == bend) {
                        b++;
                        bend += spb;
                    }
                    e = min_sz(s + W, bend);
                    const int first = s == bend - spb;
                    int32x4_t v[4][4];
                    bl_span_any(a, wg, tab, t, s, e, W, KIND, BITS, PO, v);
                    int32_t *o = ot + b * (size_t)PO;
                    if (KIND == BL_EXACT) {
                        put_s32(o, rs, PO, 4, v, first);
                    } else {
                        float32x4_t f[4][4];
                        for (int c = 0; c < PO; c++)
                            for (int i = 0; i < 4; i++)
                                f[c][i] = vreinterpretq_f32_s32(v[c][i]);
                        put_f32((float *)o, rs, PO, 4, f, first);
                    }
                }
            }
        }
    }
}

/* One noinline function per (KIND, BITS, PO): each inner loop gets its
 * own register allocation (all inlined into one function, GCC spilled in
 * some of them). */
#define BL_INST(K, B, P)                                                        \
    static __attribute__((noinline)) void bl_##K##_##B##_##P(const lutgemm_kernel_args *a) \
    {                                                                           \
        bl_all(a, K, B, P);                                                     \
    }
#define BL_INSTS(K)                                                             \
    BL_INST(K, 1, 1)                                                            \
    BL_INST(K, 2, 1) BL_INST(K, 2, 2)                                           \
    BL_INST(K, 3, 1) BL_INST(K, 3, 3)                                           \
    BL_INST(K, 4, 1) BL_INST(K, 4, 4)
BL_INSTS(0)
BL_INSTS(1)
BL_INSTS(2)

#define BL_SWITCH(K)                                                            \
    switch (a->bits) {                                                          \
    case 1: bl_##K##_1_1(a); break;                                             \
    case 2: pb ? bl_##K##_2_2(a) : bl_##K##_2_1(a); break;                      \
    case 3: pb ? bl_##K##_3_3(a) : bl_##K##_3_1(a); break;                      \
    default: pb ? bl_##K##_4_4(a) : bl_##K##_4_1(a); break;                     \
    }

NI void bl_dispatch(const lutgemm_kernel_args *a, const int KIND)
{
    LUTGEMM_REQUIRE(a->mr == BL_MR && a->kc == 8 && a->bits >= 1 && a->bits <= 4);
    LUTGEMM_REQUIRE(a->plane_out == 1 || a->plane_out == a->bits);
    LUTGEMM_REQUIRE(a->bp % 8 == 0 && a->bp > 0 &&
                    a->w_stride == BL_MR * a->nb * a->bp * a->bits / 8);
    if (KIND != BL_EXACT)
        LUTGEMM_REQUIRE(a->span % 8 == 0 && a->span > 0 && a->span <= 64 && a->bp % a->span == 0);
    const int pb = a->plane_out != 1;
    if (KIND == BL_EXACT)
        BL_SWITCH(0)
    else if (KIND == BL_FAST)
        BL_SWITCH(1)
    else
        BL_SWITCH(2)
}

LUTGEMM_KERNEL(lutgemm_neon_int_bitlut_g4) { bl_dispatch(a, BL_EXACT); }

LUTGEMM_KERNEL(lutgemm_neon_int_bitlut_g4_fast) { bl_dispatch(a, BL_FAST); }

LUTGEMM_KERNEL(lutgemm_neon_int_bitlut_g4_float) { bl_dispatch(a, BL_FLOAT); }

/* ------------------------------------------------------------------------
 * Instruction counts (GCC 12.2, the build.rs flags; "loop": the hot inner
 * loop body in the objdump, "call": qemu TCG instruction count of a whole
 * kernel call, m = 1024, k = 4096, n = 1, table build not included), per
 * 1000 weights of the matrix:
 *
 *   kernel              loop body                               loop  call nb=1  call, short groups
 *   ternary_mad         57 per 4 rows x 64 (32 SMLAL(2))        223   236        276 (group 256)
 *   ternary_lut_g2      56 per 64 rows x 4 (16 TBL)             219   229        235 (group 256)
 *   ternary_lut_g4      28 per 32 rows x 4 (4 TBL4 + 4 TBX2)    219   236        246 (group 256)
 *   int_mad 4 bits      239 per 16 rows x 64 (128 SMLAL(2))     233   237        303 (32), 363 (16)
 *   int_mad 2 bits      63 per 16 rows x 16 (32 SMLAL(2))       246   255        293 (64), 394 (16)
 *   bitlut_g4 4 bits    53 per 16 rows x 8 (16 TBL)             414   445 (po 4: 458)  582 (32)
 *   bitlut_g4 3/2/1     40 / 28 / 16 per 16 rows x 8            313 / 219 / 125   333 / 236 / 139
 *   bitlut_g4_fast 4    36 per 16 rows x 8 (8 TBL)              281   339        385 (32)
 *   bitlut_g4_float 4   153 per 16 rows x 8 (32 TBL, 64 ZIP)    1195  1237
 *
 * Table builds per token (k = 4096): g2 30.7 k, g4 89.7 k, bitlut 19.5 k
 * instructions (for m = 4096: 1.9, 5.3 and 1.2 per 1000 weights).
 * What bounds the loops: the multiply-add loops issue one SMLAL(2) per 8
 * weights (the multiply pipe; 20 (ternary) or 8 (4-bit) decode ops per 32
 * SMLAL share the other pipes); lut_g2 and bitlut are all single-register
 * TBL and widening adds on the vector ALUs (~48 vector ops per 256 resp.
 * 128 weights) with one 64-byte table and one 64-byte index load per
 * step; lut_g4 is bound by its multi-register lookups (TBL4 / TBX2 are
 * multi-uop on most cores) and reloads 192 table bytes per 32 rows x 4
 * weights (1.5 bytes per weight from L1).
 * ---------------------------------------------------------------------- */
