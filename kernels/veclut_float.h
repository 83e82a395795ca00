/* The Float and Fast vector-LUT kernels for ternary weights
 * (Layout::TernaryVecLutG4 under the Float and Fast contracts) and for
 * 1-4-bit integer codes (Layout::IntVecLut: a byte's two nibbles each
 * select a row, "Integer weights" below) written once
 * with GCC vector extensions for every ISA object: a table row is 32 f32
 * tokens, VLF_PARTS native vectors of VLV_BYTES (the including file
 * defines VLV_BYTES: 64 for AVX-512, 32 for AVX2, 16 for NEON). Everything
 * here is static, so each object gets its own copy built with its own
 * flags. An including file may define VLF_WRITE_OUT(a, acc, sums, t0, nt)
 * with a faster lutgemm_veclut_write_out.
 *
 * The Exact kernel's loop nest (kernels/veclut_vec.h) with f32 rows built
 * from xpad, one K-block a span: per tile of 32 tokens, per scale group,
 * per span of `span` columns (at most 64: VLF_SPAN_GROUPS groups of 4):
 * transpose the span's activations to [column][token], build the 81 rows
 * of each group (Fast: re-quantize them to int8), and per block of RB rows
 * add the row each index byte selects (4 columns × 32 tokens), the span's
 * sum in registers from +0.0 (Fast: int16 from 0), then into the group's
 * sum in accP. Keeping the span in registers (166 KiB of f32 tables read
 * from L2) beat K-blocks of 1 to 8 groups with the span's sums stored
 * between them: 4096 × 4096, n = 256, AVX-512, 145 / 115 / 64 / 52 ms
 * against 52. Order and scratch: lutgemm_kernels.h; the oracles are
 * src/kernels/portable/veclut.rs (ternary_float, ternary_fast, int_float,
 * int_fast), which give the same bits token by token. The integer kernels
 * write every scale group's sums (64 a row at groups of 64) and measured
 * 0.3-0.8x the bit-serial tables, which selection keeps (src/select.rs).
 */
#ifndef LUTGEMM_VECLUT_FLOAT_H
#define LUTGEMM_VECLUT_FLOAT_H

#include <string.h>

#include "lutgemm_kernels.h"

#define VLF_MR 64 /* rows per row group (layout) */
#define VLF_NT VECLUT_TOKENS
#define VLF_ELEMS (VLV_BYTES / 4) /* floats a vector */
#define VLF_PARTS (VLF_NT / VLF_ELEMS)
#define VLF_ROW_BYTES (VLF_NT * 4)

typedef float vlf_vec __attribute__((vector_size(VLV_BYTES), aligned(VLV_BYTES)));

/* xT[c][t] = x[t0 + t][col + c] for c < cols (0 for t >= nt). */
static inline void vlf_transpose(const lutgemm_kernel_args *a, size_t t0, size_t nt, size_t col,
                                 size_t cols, float *xT)
{
    memset(xT, 0, cols * VLF_NT * sizeof(float));
    for (size_t t = 0; t < nt; t++) {
        const float *x = a->xpad + (t0 + t) * a->xpad_stride + col;
        for (size_t c = 0; c < cols; c++)
            xT[c * VLF_NT + t] = x[c];
    }
}

#ifndef VLF_WRITE_OUT
#define VLF_WRITE_OUT lutgemm_veclut_write_out
#endif

/* Row 27a + 9b + 3c + d of group j: (wa·x0 + wb·x1) + (wc·x2 + wd·x3). */
LUTGEMM_VECLUT_BUILD81(vlf_build, vlf_vec, float, VLF_PARTS)

/* ---- Integer weights (Layout::IntVecLut) ----
 *
 * An index byte holds the codes of 8/f columns in fields of f bits (f =
 * bits, 4 for 3-bit codes); each nibble selects one of 16 rows over its
 * 4/f columns, row u = Σ_c f32(field_c(u))·x_c summed pairwise ((t0 + t1)
 * + (t2 + t3) for 4 columns, t0 + t1 for 2, t0 for 1), and rows no code
 * reaches (3-bit codes: u >= 8) 0, so they never set a Fast scale. A byte
 * adds e_lo + e_hi. A span of at most IVF_SPAN_BYTES bytes (64 columns of
 * 4-bit codes) has 32 rows a byte, 1024 rows: the ternary span's scratch
 * (16 groups of 81 rows) holds them. */
#define IVF_SPAN_BYTES 32
typedef char ivf_span_fits_scratch[IVF_SPAN_BYTES * 32 <= VLF_SPAN_GROUPS * VECLUT_PATTERNS ? 1 : -1];

/* Rows h[16] of one nibble over the columns x[c·VLF_PARTS]. */
static inline void ivf_half(const vlf_vec *x, int f, int valid, vlf_vec *h)
{
    const int n = 4 / f, mask = (1 << f) - 1;
    for (int u = 0; u < 16; u++) {
        vlf_vec t[4];
        for (int c = 0; c < n; c++)
            t[c] = (float)((u >> (f * c)) & mask) * x[c * VLF_PARTS];
        h[u] = u >= valid ? (vlf_vec){0}
               : n == 4   ? (t[0] + t[1]) + (t[2] + t[3])
               : n == 2   ? t[0] + t[1]
                          : t[0];
    }
}

/* Tables of `bytes` index bytes from xT (8/f columns each): per byte the
 * 16 rows of its low nibble's columns, then the 16 of its high nibble's. */
static inline void ivf_build(const float *xT, size_t bytes, int f, int valid, float *tables)
{
    const int cols = 8 / f;
    for (size_t j = 0; j < bytes; j++) {
        for (int p = 0; p < VLF_PARTS; p++) {
            const vlf_vec *x = (const vlf_vec *)(xT + (size_t)cols * j * VLF_NT) + p;
            vlf_vec lo[16], hi[16];
            ivf_half(x, f, valid, lo);
            ivf_half(x + cols / 2 * VLF_PARTS, f, valid, hi);
            vlf_vec *t = (vlf_vec *)(tables + j * 32 * VLF_NT) + p;
            for (int u = 0; u < 16; u++) {
                t[u * VLF_PARTS] = lo[u];
                t[(16 + u) * VLF_PARTS] = hi[u];
            }
        }
    }
}

/* Rows a table group holds: 81 ternary patterns, or two nibbles' 16. */
#define VLF_GROUP_ROWS(INT) ((INT) ? 32 : VECLUT_PATTERNS)

/* Defines `fn`: RB rows over one span of `groups` groups (INT: index
 * bytes, each adding its two nibbles' rows). ix: the block's first index
 * byte of the span's first group (the next group's are VLF_MR bytes on).
 * The span's sum, from +0.0, is added to accP (rows stride floats apart;
 * from +0.0 when first_span). */
#define VLF_LOOKUPS(fn, RB, INT)                                               \
    static inline void fn(const uint8_t *ix, size_t groups, const float *tables, float *accP, \
                          size_t stride, int first_span)                       \
    {                                                                          \
        vlf_vec acc[RB][VLF_PARTS];                                            \
        const vlf_vec z = {0};                                                 \
        for (int r = 0; r < RB; r++)                                           \
            for (int h = 0; h < VLF_PARTS; h++)                                \
                acc[r][h] = z;                                                 \
        const char *t = (const char *)tables;                                  \
        for (size_t j = 0; j < groups; j++, ix += VLF_MR,                      \
                    t += VLF_GROUP_ROWS(INT) * VLF_ROW_BYTES) {                \
            for (int r = 0; r < RB; r++) {                                     \
                if (INT) {                                                     \
                    const vlf_vec *lo =                                        \
                        (const vlf_vec *)(t + (size_t)(ix[r] & 15) * VLF_ROW_BYTES); \
                    const vlf_vec *hi =                                        \
                        (const vlf_vec *)(t + (size_t)(16 + (ix[r] >> 4)) * VLF_ROW_BYTES); \
                    for (int h = 0; h < VLF_PARTS; h++)                        \
                        acc[r][h] += lo[h] + hi[h];                            \
                } else {                                                       \
                    const vlf_vec *row =                                       \
                        (const vlf_vec *)(t + (size_t)ix[r] * VLF_ROW_BYTES);  \
                    for (int h = 0; h < VLF_PARTS; h++)                        \
                        acc[r][h] += row[h];                                   \
                }                                                              \
            }                                                                  \
        }                                                                      \
        for (int r = 0; r < RB; r++) {                                         \
            vlf_vec *p = (vlf_vec *)(accP + r * stride);                       \
            for (int h = 0; h < VLF_PARTS; h++)                                \
                p[h] = (first_span ? z : p[h]) + acc[r][h];                    \
        }                                                                      \
    }

/* ---- Fast: the span's f32 rows re-quantized to int8 per token ----
 *
 * Per span, the f32 rows of vlf_build are re-quantized like every Fast table
 * (src/lut/mod.rs requantize_spans), per token: amax over the span's
 * rows, q = round(e · (127 / amax)) ties away from zero, scale amax / 127
 * (zeros and scale 0 when 127 / amax overflows). The lookups add int8 rows
 * (32 tokens, sign-extended) into int16 accumulators from zero: at most 16
 * groups · 127 = 2032. At the span's end the group's f32 sum gains
 * f32(sum) · scale (product, then sum: two roundings), from +0.0. */

typedef int8_t vlq_i8 __attribute__((vector_size(VLV_BYTES / 2), aligned(VLV_BYTES / 2)));
typedef int16_t vlq_i16 __attribute__((vector_size(VLV_BYTES), aligned(VLV_BYTES)));
#define VLQ_ELEMS (VLV_BYTES / 2) /* int16 tokens a vector */
#define VLQ_PARTS (VLF_NT / VLQ_ELEMS)

/* VLQ_ELEMS int8 at p (aligned), sign-extended to int16. An including file
 * may define its own: GCC 12 turns the generic conversion of 32 bytes into
 * two half conversions and an insert instead of one vpmovsxbw zmm, mem. */
#ifndef VLQ_WIDEN
#define VLQ_WIDEN(p) __builtin_convertvector(*(const vlq_i8 *)(p), vlq_i16)
#endif

/* rows f32 rows of 32 tokens -> int8 rows t8, and the tokens' scales. */
static inline void vlq_requantize(const float *restrict e, size_t rows, int8_t *restrict t8,
                                  float *restrict scale)
{
    float am[VLF_NT], inv[VLF_NT];
    for (int t = 0; t < VLF_NT; t++)
        am[t] = 0.0f;
    for (size_t i = 0; i < rows; i++)
        for (int t = 0; t < VLF_NT; t++) {
            const float v = __builtin_fabsf(e[i * VLF_NT + t]);
            am[t] = v > am[t] ? v : am[t];
        }
    for (int t = 0; t < VLF_NT; t++) {
        inv[t] = 127.0f / am[t];
        if (inv[t] <= 3.402823466e38f) {
            scale[t] = am[t] / 127.0f;
        } else {
            inv[t] = 0.0f;
            scale[t] = 0.0f;
        }
    }
    for (size_t i = 0; i < rows; i++)
        for (int t = 0; t < VLF_NT; t++) {
            const float v = e[i * VLF_NT + t] * inv[t];
            const int32_t q = (int32_t)v;
            const float fr = v - (float)q;
            int32_t r = q + (fr >= 0.5f) - (fr <= -0.5f);
            r = r > 127 ? 127 : r < -127 ? -127 : r;
            t8[i * VLF_NT + t] = (int8_t)r;
        }
}

/* Defines `fn`: RB rows over one span of `groups` groups (INT: index
 * bytes): int8 rows t8 (VLF_GROUP_ROWS a group, 32 bytes each), the span's
 * sum times `scale` into accP (rows stride floats apart; from +0.0 when
 * first_span). The int16 sums: at most 16 groups · 127 = 2032, or
 * IVF_SPAN_BYTES bytes · 2 · 127 = 8128. */
#define VLQ_LOOKUPS(fn, RB, INT)                                               \
    static inline void fn(const uint8_t *ix, size_t groups, const int8_t *t8,   \
                          const float *restrict scale, float *restrict accP, size_t stride, \
                          int first_span)                                      \
    {                                                                          \
        vlq_i16 acc[RB][VLQ_PARTS];                                            \
        for (int r = 0; r < RB; r++)                                           \
            for (int h = 0; h < VLQ_PARTS; h++)                                \
                acc[r][h] = (vlq_i16){0};                                      \
        for (size_t j = 0; j < groups; j++, ix += VLF_MR, t8 += VLF_GROUP_ROWS(INT) * VLF_NT) { \
            for (int r = 0; r < RB; r++) {                                     \
                if (INT) {                                                     \
                    const int8_t *lo = t8 + (size_t)(ix[r] & 15) * VLF_NT;     \
                    const int8_t *hi = t8 + (size_t)(16 + (ix[r] >> 4)) * VLF_NT; \
                    for (int h = 0; h < VLQ_PARTS; h++)                        \
                        acc[r][h] += VLQ_WIDEN(lo + h * VLQ_ELEMS) +           \
                                     VLQ_WIDEN(hi + h * VLQ_ELEMS);            \
                } else {                                                       \
                    const int8_t *row = t8 + (size_t)ix[r] * VLF_NT;           \
                    for (int h = 0; h < VLQ_PARTS; h++)                        \
                        acc[r][h] += VLQ_WIDEN(row + h * VLQ_ELEMS);           \
                }                                                              \
            }                                                                  \
        }                                                                      \
        for (int r = 0; r < RB; r++) {                                         \
            int16_t a16[VLF_NT] __attribute__((aligned(64)));                  \
            memcpy(a16, acc[r], sizeof a16);                                   \
            float *restrict p = accP + r * stride;                             \
            if (first_span)                                                    \
                for (int e = 0; e < VLF_NT; e++)                               \
                    p[e] = 0.0f + (float)a16[e] * scale[e];                    \
            else                                                               \
                for (int e = 0; e < VLF_NT; e++)                               \
                    p[e] = p[e] + (float)a16[e] * scale[e];                    \
        }                                                                      \
    }

/* The ABI entry point `name` of the Float (FAST = 0) or Fast (FAST = 1)
 * kernel for ternary (INT = 0, Layout::TernaryVecLutG4: an index byte a
 * group of 4 columns) or integer weights (INT = 1, Layout::IntVecLut: an
 * index byte of 8/f columns), register blocks of RB rows (RB divides 64).
 * Scratch: lutgemm_veclut_f32_scratch_bytes. */
#define LUTGEMM_VECLUT_F32_KERNEL(name, RB, FAST, INT)                         \
    VLF_LOOKUPS(name##_float_lookups, RB, INT)                                 \
    VLQ_LOOKUPS(name##_fast_lookups, RB, INT)                                  \
    LUTGEMM_KERNEL(name)                                                       \
    {                                                                          \
        const size_t rows = a->row_groups * VLF_MR;                            \
        const int f = INT ? (a->bits == 3 ? 4 : (int)a->bits) : 2;             \
        const int valid = a->bits == 3 ? 8 : 16;                               \
        const size_t cols = INT ? (size_t)(8 / f) : 4; /* columns a byte */   \
        LUTGEMM_REQUIRE(a->mr == VLF_MR && a->kc == (INT ? 8u : 4u) &&         \
                        a->plane_out == 1 &&                                   \
                        (!(INT) || (a->bits >= 1 && a->bits <= 4)) &&          \
                        a->span % cols == 0 && a->span > 0 &&                  \
                        a->span / cols <= (INT ? IVF_SPAN_BYTES : VLF_SPAN_GROUPS) && \
                        a->bp % a->span == 0 &&                                \
                        a->w_stride == VLF_MR * a->nb * a->bp / cols &&        \
                        a->scratch_bytes >= lutgemm_veclut_f32_scratch_bytes(rows, a->nb)); \
        float *xT = (float *)a->scratch;                                       \
        float *tables = (float *)(a->scratch + VLF_XT_BYTES);                  \
        int8_t *t8 = (int8_t *)(a->scratch + VLF_XT_BYTES + VLF_TABLE_BYTES);  \
        float *scale = (float *)(t8 + VLQ_TABLE8_BYTES);                       \
        float *accP = scale + VLF_NT;                                          \
        const size_t gpb = a->bp / cols, gps = a->span / cols;                 \
        for (size_t t0 = 0; t0 < a->n; t0 += VLF_NT) {                         \
            const size_t nt = a->n - t0 < VLF_NT ? a->n - t0 : VLF_NT;         \
            for (size_t b = 0; b < a->nb; b++) {                               \
                const size_t j0 = b * gpb, j1 = j0 + gpb;                      \
                for (size_t s0 = j0; s0 < j1; s0 += gps) {                     \
                    vlf_transpose(a, t0, nt, cols * s0, a->span, xT);          \
                    if (INT)                                                   \
                        ivf_build(xT, gps, f, valid, tables);                  \
                    else                                                       \
                        vlf_build(xT, gps, tables);                            \
                    if (FAST)                                                  \
                        vlq_requantize(tables, gps * VLF_GROUP_ROWS(INT), t8, scale); \
                    for (size_t g = 0; g < a->row_groups; g++) {               \
                        const uint8_t *wg = a->w + g * a->w_stride + s0 * VLF_MR; \
                        for (size_t s = 0; s < VLF_MR; s += (RB)) {            \
                            float *p = accP + (g * VLF_MR + s) * a->nb * VLF_NT + b * VLF_NT; \
                            if (FAST)                                          \
                                name##_fast_lookups(wg + s, gps, t8, scale, p, \
                                                    a->nb * VLF_NT, s0 == j0); \
                            else                                               \
                                name##_float_lookups(wg + s, gps, tables, p,   \
                                                     a->nb * VLF_NT, s0 == j0); \
                        }                                                      \
                    }                                                          \
                }                                                              \
            }                                                                  \
            VLF_WRITE_OUT(a, (const int32_t *)accP, rows * a->nb, t0, nt);     \
        }                                                                      \
    }

#endif
