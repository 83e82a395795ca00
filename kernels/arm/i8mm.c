/* aarch64 Armv8.6-A + i8mm (SMMLA) multiply-add kernel for 2/4-bit
 * integer weights under the exact contract: int8 activations in
 * [-127, 127], exact int32 sums per token, row and scale group (call
 * contract: lutgemm_kernels.h; layout: src/layout/, IntMad; spec:
 * INT_KERNELS.md).
 *
 *   lutgemm_i8mm_int_mad   Layout::IntMad { mr: 16 }, bits 4 (kc 8) or 2
 *                          (kc 16), plane_out 1; fused group scaling
 *                          (a->fuse) as dotprod.c's (dp_fuse_block)
 *
 * i8mm implies dotprod on every core that has it (and -march=armv8.6-a
 * enables both), so this object also carries the SDOT code paths of
 * dotprod.c (#included below with its entry points left out) for the
 * token tiles where SMMLA does not pay.
 *
 * SMMLA (vmmlaq_s32) multiplies a 2 x 8 int8 matrix (2 rows of 8
 * consecutive columns) by an 8 x 2 one (2 tokens of the same 8 columns)
 * into a 2 x 2 int32 tile {r0 t0, r0 t1, r1 t0, r1 t1}: 32 multiply-adds
 * per instruction against SDOT's 16. In IntMad a 32-bit lane is one row x
 * 4 columns, so the decoded 4-column halves of a row are zipped together:
 *   4 bits: lo = v & 0x0f (columns 0-3 of rows 4i..4i+3), hi = v >> 4
 *           (columns 4-7); zip1.4s(lo, hi) = rows 4i, 4i+1 x columns 0-7,
 *           zip2.4s(lo, hi) = rows 4i+2, 4i+3.
 *   2 bits: f_j = (v >> 2j) & 3 = columns 4j..4j+3; zip1/zip2.4s(f0, f1)
 *           = row pairs x columns 0-7, zip1/zip2.4s(f2, f3) = columns 8-15.
 *           (The in-place masks of the SDOT path would give the two halves
 *           of one SMMLA operand different scales, so the plain decode.)
 * The token pair's operand is zip1/zip2.2d of the two tokens' 16
 * activations (columns 0-7 and 8-15), built once per step for all 16 rows.
 * uzp1/uzp2.4s of the two tiles of a row quad give the quad's 4 rows for
 * each token of the pair.
 *
 * Token tiling (per 16-byte weight vector = 4 rows x 8 (4 bits) or 16
 * (2 bits) columns; ops = decode + zip + multiply instructions):
 *   tokens  SMMLA tiles           SDOT tile (dotprod.c)
 *   4       4-bit 2+2+4 =  8      4-bit 2+8  = 10
 *           2-bit 6+4+8 = 18      2-bit 6+16 = 22
 *   2       4-bit 2+2+2 =  6      4-bit 2+4  =  6
 *           2-bit 6+4+4 = 14      2-bit 6+8  = 14
 *   3       pair + single: 4-bit 10, 2-bit 22; SDOT x3: 4-bit 8, 2-bit 18
 * So: tiles of 4 tokens (2 pairs: 16 accumulators) by SMMLA, then a
 * remainder of 2 by SMMLA, of 3 by SDOT x3, of 1 (and n = 1) by dotprod.c's
 * one-token SDOT path.
 *
 * Hot loops (GCC 12.2, the build.rs flags), instructions per 1000
 * token-weights, loop overhead included, no spills (DP_FENCE in the
 * 2-pair loops):
 *   4 tokens (2 pairs)  4 bits 80 (SDOT x4: 90)   2 bits 86 (SDOT x4: 96)
 *   2 tokens (1 pair)   4 bits 125 (SDOT x2: 117) 2 bits 129 (SDOT x2: 133)
 *   n = 1 (SDOT)        4 bits 156                2 bits 148
 * Not timed: only qemu was available.
 *
 * int32 bounds (bp <= MAX_K = 131072, |q| <= 127): a lane sums products of
 * one row, token and scale group, at most 15*127*bp <= 2.5e8 (4 bits),
 * 3*127*bp <= 5.0e7 (2 bits). SMMLA wraps, it never saturates.
 */
#define LUTGEMM_ARM_DOTPROD_NO_ENTRY
#include "dotprod.c"

/* Token pairs per SMMLA tile (2 pairs x 4 quads x 2 row pairs = 16
 * accumulators). */
#define MM_PMAX 2
/* Tiles of at least this many pairs fence their loops (see DP_FENCE). */
#ifndef MM_FENCE_P
#define MM_FENCE_P 2
#endif

#define MM_S64(v) vreinterpretq_s64_s8(v)
#define MM_S8_64(v) vreinterpretq_s8_s64(v)
#define MM_U32(v) vreinterpretq_u32_u8(v)
#define MM_S8_32(v) vreinterpretq_s8_u32(v)

/* 4 bits, one step at ws against the pairs' operands X[p]. */
DP_INLINE void mm4_step(const uint8_t *ws, const int8x16_t *X, const int P,
                        int32x4_t acc[][4][2], uint8x16_t m0f)
{
    DP_UNROLL
    for (int i = 0; i < 4; i++) {
        const uint8x16_t v = vld1q_u8(ws + 16 * i);
        const uint8x16_t lo = vandq_u8(v, m0f);
        const uint8x16_t hi = vshrq_n_u8(v, 4);
        const int8x16_t z1 = MM_S8_32(vzip1q_u32(MM_U32(lo), MM_U32(hi)));
        const int8x16_t z2 = MM_S8_32(vzip2q_u32(MM_U32(lo), MM_U32(hi)));
        DP_UNROLL
        for (int p = 0; p < P; p++) {
            acc[p][i][0] = vmmlaq_s32(acc[p][i][0], z1, X[p]);
            acc[p][i][1] = vmmlaq_s32(acc[p][i][1], z2, X[p]);
        }
        if (P >= MM_FENCE_P && (i & 1))
            DP_FENCE();
    }
}

/* The pair operands of one 16-byte activation load per token (columns
 * c..c+15): X0[p] = columns c..c+7 of tokens 2p, 2p+1, X1[p] = c+8..c+15. */
#define MM_PAIRS16(xp, xs, X0, X1)                                              \
    do {                                                                        \
        DP_UNROLL                                                               \
        for (int p = 0; p < P; p++) {                                           \
            const int8x16_t xa_ = vld1q_s8((xp) + (size_t)(2 * p) * (xs));      \
            const int8x16_t xb_ = vld1q_s8((xp) + (size_t)(2 * p + 1) * (xs));  \
            X0[p] = MM_S8_64(vzip1q_s64(MM_S64(xa_), MM_S64(xb_)));             \
            X1[p] = MM_S8_64(vzip2q_s64(MM_S64(xa_), MM_S64(xb_)));             \
        }                                                                       \
    } while (0)

/* P token pairs (activations x + t*xs, t < 2P) x one row group over steps
 * [s0, s1) of 4-bit weights: r[t][i] = rows 4i..4i+3 of token t. */
DP_INLINE void mm4_steps(const uint8_t *w, const int8_t *x, size_t xs, const int P, size_t s0,
                         size_t s1, int32x4_t r[][4])
{
    const uint8x16_t m0f = vdupq_n_u8(0x0f);
    int32x4_t acc[MM_PMAX][4][2];
    DP_UNROLL
    for (int p = 0; p < P; p++)
        DP_UNROLL
        for (int i = 0; i < 4; i++)
            acc[p][i][0] = acc[p][i][1] = vdupq_n_s32(0);
    const uint8_t *ws = w + IM_STEP * s0;
    const uint8_t *const we = ws + IM_STEP * ((s1 - s0) & ~(size_t)1);
    const int8_t *xp = x + 8 * s0;
    for (; ws != we; ws += 2 * IM_STEP, xp += 16) {
        int8x16_t X0[MM_PMAX], X1[MM_PMAX];
        MM_PAIRS16(xp, xs, X0, X1);
        mm4_step(ws, X0, P, acc, m0f);
        mm4_step(ws + IM_STEP, X1, P, acc, m0f);
    }
    if ((s1 - s0) & 1) {
        /* An odd last step: 8 activations per token. */
        int8x16_t X0[MM_PMAX];
        DP_UNROLL
        for (int p = 0; p < P; p++)
            X0[p] = vcombine_s8(vld1_s8(xp + (size_t)(2 * p) * xs),
                                vld1_s8(xp + (size_t)(2 * p + 1) * xs));
        mm4_step(ws, X0, P, acc, m0f);
    }
    DP_UNROLL
    for (int p = 0; p < P; p++)
        DP_UNROLL
        for (int i = 0; i < 4; i++) {
            r[2 * p][i] = vuzp1q_s32(acc[p][i][0], acc[p][i][1]);
            r[2 * p + 1][i] = vuzp2q_s32(acc[p][i][0], acc[p][i][1]);
        }
}

/* 2 bits, P token pairs x one row group over steps [s0, s1). */
DP_INLINE void mm2_steps(const uint8_t *w, const int8_t *x, size_t xs, const int P, size_t s0,
                         size_t s1, int32x4_t r[][4])
{
    const uint8x16_t m03 = vdupq_n_u8(0x03);
    int32x4_t acc[MM_PMAX][4][2];
    DP_UNROLL
    for (int p = 0; p < P; p++)
        DP_UNROLL
        for (int i = 0; i < 4; i++)
            acc[p][i][0] = acc[p][i][1] = vdupq_n_s32(0);
    const uint8_t *ws = w + IM_STEP * s0;
    const uint8_t *const we = w + IM_STEP * s1;
    const int8_t *xp = x + 16 * s0;
    for (; ws != we; ws += IM_STEP, xp += 16) {
        int8x16_t X0[MM_PMAX], X1[MM_PMAX];
        MM_PAIRS16(xp, xs, X0, X1);
        DP_UNROLL
        for (int i = 0; i < 4; i++) {
            const uint8x16_t v = vld1q_u8(ws + 16 * i);
            const uint32x4_t f0 = MM_U32(vandq_u8(v, m03));
            const uint32x4_t f1 = MM_U32(vandq_u8(vshrq_n_u8(v, 2), m03));
            const uint32x4_t f2 = MM_U32(vandq_u8(vshrq_n_u8(v, 4), m03));
            const uint32x4_t f3 = MM_U32(vshrq_n_u8(v, 6));
            const int8x16_t a1 = MM_S8_32(vzip1q_u32(f0, f1)); /* rows 4i, 4i+1, cols 0-7 */
            const int8x16_t a2 = MM_S8_32(vzip2q_u32(f0, f1)); /* rows 4i+2, 4i+3 */
            const int8x16_t b1 = MM_S8_32(vzip1q_u32(f2, f3)); /* cols 8-15 */
            const int8x16_t b2 = MM_S8_32(vzip2q_u32(f2, f3));
            DP_UNROLL
            for (int p = 0; p < P; p++) {
                acc[p][i][0] = vmmlaq_s32(acc[p][i][0], a1, X0[p]);
                acc[p][i][1] = vmmlaq_s32(acc[p][i][1], a2, X0[p]);
                acc[p][i][0] = vmmlaq_s32(acc[p][i][0], b1, X1[p]);
                acc[p][i][1] = vmmlaq_s32(acc[p][i][1], b2, X1[p]);
            }
            if (P >= MM_FENCE_P && (i & 1))
                DP_FENCE();
        }
    }
    DP_UNROLL
    for (int p = 0; p < P; p++)
        DP_UNROLL
        for (int i = 0; i < 4; i++) {
            r[2 * p][i] = vuzp1q_s32(acc[p][i][0], acc[p][i][1]);
            r[2 * p + 1][i] = vuzp2q_s32(acc[p][i][0], acc[p][i][1]);
        }
}

/* Tokens t0..t0+2P-1 of row group g, all scale groups (im_tile's
 * structure with the SMMLA steps). */
DP_INLINE void mm_tile(const lutgemm_kernel_args *a, size_t g, size_t t0, const int P,
                       const int B4)
{
    const int T = 2 * P;
    const size_t spg = a->bp / (B4 ? 8 : 16);
    const size_t nb = a->nb;
    const uint8_t *w = a->w + g * a->w_stride;
    const int8_t *x = a->qpad + t0 * a->qpad_stride;
    int32_t *o = (int32_t *)a->out + t0 * a->out_stride + g * IM_MR * nb;
    for (size_t b0 = 0; b0 < nb; b0 += 4) {
        const int G = nb - b0 < 4 ? (int)(nb - b0) : 4;
        int32x4_t st[2 * MM_PMAX][4][4]; /* [token][quad][group] */
        int bb = 0;
        do {
            const size_t b = b0 + (size_t)bb;
            int32x4_t r[2 * MM_PMAX][4];
            if (B4)
                mm4_steps(w, x, a->qpad_stride, P, b * spg, (b + 1) * spg, r);
            else
                mm2_steps(w, x, a->qpad_stride, P, b * spg, (b + 1) * spg, r);
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

/* All tokens of row group g: SMMLA tiles of 4, then the remainder (see
 * the tiling table above). */
DP_INLINE void mm_tokens(const lutgemm_kernel_args *a, size_t g, const int B4)
{
    const size_t n = a->n;
    size_t t = 0;
    for (; t + 4 <= n; t += 4)
        mm_tile(a, g, t, 2, B4);
    switch (n - t) {
    case 3:
        im_tile(a, g, t, 3, B4);
        break;
    case 2:
        mm_tile(a, g, t, 1, B4);
        break;
    case 1:
        im_tile(a, g, t, 1, B4);
        break;
    default:
        break;
    }
}

LUTGEMM_KERNEL(lutgemm_i8mm_int_mad)
{
    IM_REQUIRE_ARGS(a);
    for (size_t g = 0; g < a->row_groups; g++) {
        if (a->bits == 4)
            mm_tokens(a, g, 1);
        else
            mm_tokens(a, g, 0);
    }
}
