/* aarch64 baseline NEON (Armv8.0-A, no dotprod) kernel for ternary weights
 * at five per byte (Layout::TernaryMad5 { mr: 16 }), Exact contract (call
 * contract: lutgemm_kernels.h; encoding: src/layout/trit5.rs; decode:
 * mad5_decode.h). Every extent is checked in Rust before this runs.
 *
 * Same step as dotprod_mad5.c (4 quads of 4 rows × 4 bytes per step of 20
 * columns). Without SDOT, each decoded code vector is multiplied by its
 * digit's 4 activations (a 32-bit lane dup, shared by every quad of the
 * step) with SMLAL/SMLAL2 into two int16x8 accumulators per quad (int16
 * lane = one row's byte j); VPADAL widens them into int32 every MAD5_RUN
 * steps, and a final pairwise add folds each row's 4 byte lanes.
 *
 * int16 bounds (|q| <= 127, codes <= 2): a lane gains at most 5·2·127 =
 * 1270 per step, so MAD5_RUN = 16 steps reach at most 20320 < 32767. int32:
 * |Σ| <= 2·127·bp < 2^26.
 *
 * Instructions (aarch64-linux-gnu-gcc 12.2 -O3, the build.rs flags, objdump
 * of the hot loop): 43 per quad and step (10 SMLAL/SMLAL2, 5 dup of the
 * activations, 18 decode and code ops, 6 loads of which 2 reload the table
 * from the stack, 2 loop) = 538 per 1000 weights,
 * against 236 for the 2-bit layout's kernel (neon.c). Not measured on Arm
 * hardware; see src/select.rs.
 */
#include <arm_neon.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "mad5_decode.h"

#define NI static inline __attribute__((always_inline))
#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)

#define MAD5_RUN 16

/* The 5 digits' activations of step s, each a 4-byte group dup'ed to every
 * 32-bit lane (digit 4's read by a 4-byte load: nothing past the step). */
NI void n5_acts(const int8_t *xs, int8x16_t x[5])
{
    const int32x4_t v = vreinterpretq_s32_s8(vld1q_s8(xs));
    x[0] = vreinterpretq_s8_s32(vdupq_laneq_s32(v, 0));
    x[1] = vreinterpretq_s8_s32(vdupq_laneq_s32(v, 1));
    x[2] = vreinterpretq_s8_s32(vdupq_laneq_s32(v, 2));
    x[3] = vreinterpretq_s8_s32(vdupq_laneq_s32(v, 3));
    int32_t x4;
    memcpy(&x4, xs + 16, 4);
    x[4] = vreinterpretq_s8_s32(vdupq_n_s32(x4));
}

/* Quad h of row group g, token t: every scale group. */
NI void n5_quad(const lutgemm_kernel_args *a, const mad5_neon_consts *c, size_t g, int h,
                size_t t)
{
    const size_t spg = a->bp / TRIT5_STEP;
    const uint8_t *w = a->w + g * a->w_stride + 16 * (size_t)h;
    const int8_t *x = a->qpad + t * a->qpad_stride;
    const uint8x16_t m03 = vdupq_n_u8(0x03);
    for (size_t b = 0; b < a->nb; b++) {
        int32x4_t lo32 = vdupq_n_s32(0), hi32 = lo32;
        for (size_t s0 = b * spg; s0 < (b + 1) * spg; s0 += MAD5_RUN) {
            const size_t s1 = s0 + MAD5_RUN < (b + 1) * spg ? s0 + MAD5_RUN : (b + 1) * spg;
            int16x8_t lo = vdupq_n_s16(0), hi = lo;
            for (size_t s = s0; s < s1; s++) {
                const uint8x16_t v = vld1q_u8(w + s * (MAD5_QUADS * 16));
                uint8x16_t f, e;
                mad5_neon_decode(c, v, &f, &e);
                int8x16_t cd[5];
                cd[0] = vreinterpretq_s8_u8(vandq_u8(f, m03));
                cd[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(f, 2), m03));
                cd[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(f, 4), m03));
                cd[3] = vreinterpretq_s8_u8(vshrq_n_u8(f, 6));
                cd[4] = vreinterpretq_s8_u8(e);
                int8x16_t xa[5];
                n5_acts(x + TRIT5_STEP * s, xa);
                UNROLL
                for (int i = 0; i < 5; i++) {
                    lo = vmlal_s8(lo, vget_low_s8(cd[i]), vget_low_s8(xa[i]));
                    hi = vmlal_high_s8(hi, cd[i], xa[i]);
                }
            }
            lo32 = vpadalq_s16(lo32, lo);
            hi32 = vpadalq_s16(hi32, hi);
        }
        /* lo32 = [r0 (bytes 0+1), r0 (2+3), r1 (0+1), r1 (2+3)], hi32 rows 2, 3. */
        mad5_store_quad(a, g, h, t, b, vpaddq_s32(lo32, hi32));
    }
}

LUTGEMM_KERNEL(lutgemm_neon_ternary_mad5)
{
    MAD5_REQUIRE(a);
    const mad5_neon_consts c = mad5_neon_init();
    for (size_t g = 0; g < a->row_groups; g++)
        for (int h = 0; h < MAD5_QUADS; h++)
            for (size_t t = 0; t < a->n; t++)
                n5_quad(a, &c, g, h, t);
}
