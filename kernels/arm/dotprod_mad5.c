/* aarch64 Armv8.2-A + dotprod (SDOT) kernel for ternary weights at five per
 * byte (Layout::TernaryMad5 { mr: 16 }), Exact contract (call contract:
 * lutgemm_kernels.h; encoding: src/layout/trit5.rs; decode: mad5_decode.h).
 * Every extent is checked in Rust before this runs.
 *
 * A step is 16 rows × 20 columns = 4 quads of 16 bytes (4 rows × 4 bytes,
 * one row per 32-bit lane). Per quad the decoded fields f (c0 | c1 << 2 |
 * c2 << 4 | c3 << 6) give 4 SDOT operands by one op each, masked in place
 * (a known multiple of the code) or shifted down:
 *   f & 0x03 (x1)   f & 0x0c (x4)   f & 0x30 (x16)   f >> 6 (x1)   c4 (x1)
 * into 3 accumulators A (x1), B (x4), C (x16) per quad and token, each SDOT
 * by element: lane i of the step's first 16 activations is digit i's 4
 * activations (digit 4's are a 4-byte dup load, so nothing past the step
 * is read). Row sum = A + (B >> 2) + (C >> 4) − Σq: no horizontal
 * reduction, the multiples are exact. Quads are outermost within a row
 * group (a quad's bytes of one scale group stay in L1 for every token);
 * two tokens share each decode.
 *
 * int32 bounds per scale group (bp <= MAX_K + 19, |q| <= 127, codes <= 2):
 * |C| <= 16·2·127·bp/5 <= 1.1e8, |B| <= 2.7e7, |A| <= 4.1e7: no overflow.
 *
 * Instructions (aarch64-linux-gnu-gcc 12.2 -O3, the build.rs flags, objdump
 * of the hot loop): one token 31 per quad and step (5 SDOT, 15 decode and
 * field ops, 5 loads of which 2 reload the 4-register table from the stack
 * (pinning it in registers measured 39), 3 loop) = 388 per 1000 weights;
 * two tokens 41 per quad and step = 256 per 1000 token-weights. The 2-bit
 * layout's kernel (dotprod.c) takes 164 at n = 1: 2.4× the instructions
 * per weight for 20% fewer bytes. Not measured on Arm hardware; see
 * src/select.rs.
 */
#include <arm_neon.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "mad5_decode.h"

#define NI static inline __attribute__((always_inline))
#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)


/* Quad h of row group g, tokens t0..t0+T-1: every scale group. */
NI void d5_quad(const lutgemm_kernel_args *a, const mad5_neon_consts *c, size_t g, int h,
                size_t t0, const int T)
{
    const size_t spg = a->bp / TRIT5_STEP;
    const uint8_t *w = a->w + g * a->w_stride + 16 * (size_t)h;
    const uint8x16_t m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0c), m30 = vdupq_n_u8(0x30);
    for (size_t b = 0; b < a->nb; b++) {
        int32x4_t A[2], B[2], C[2];
        UNROLL
        for (int t = 0; t < T; t++)
            A[t] = B[t] = C[t] = vdupq_n_s32(0);
        for (size_t s = b * spg; s < (b + 1) * spg; s++) {
            const uint8x16_t v = vld1q_u8(w + s * (MAD5_QUADS * 16));
            uint8x16_t f, e;
            mad5_neon_decode(c, v, &f, &e);
            const int8x16_t o0 = vreinterpretq_s8_u8(vandq_u8(f, m03));
            const int8x16_t o1 = vreinterpretq_s8_u8(vandq_u8(f, m0c));
            const int8x16_t o2 = vreinterpretq_s8_u8(vandq_u8(f, m30));
            const int8x16_t o3 = vreinterpretq_s8_u8(vshrq_n_u8(f, 6));
            const int8x16_t o4 = vreinterpretq_s8_u8(e);
            UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *xs = a->qpad + (t0 + t) * a->qpad_stride + TRIT5_STEP * s;
                const int8x16_t x = vld1q_s8(xs);
                int32_t x4;
                memcpy(&x4, xs + 16, 4);
                const int8x16_t xe = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                A[t] = vdotq_laneq_s32(A[t], o0, x, 0);
                B[t] = vdotq_laneq_s32(B[t], o1, x, 1);
                C[t] = vdotq_laneq_s32(C[t], o2, x, 2);
                A[t] = vdotq_laneq_s32(A[t], o3, x, 3);
                A[t] = vdotq_s32(A[t], o4, xe);
            }
        }
        UNROLL
        for (int t = 0; t < T; t++) {
            const int32x4_t sum = vaddq_s32(vaddq_s32(A[t], vshrq_n_s32(B[t], 2)),
                                            vshrq_n_s32(C[t], 4));
            mad5_store_quad(a, g, h, t0 + t, b, sum);
        }
    }
}

LUTGEMM_KERNEL(lutgemm_dotprod_ternary_mad5)
{
    MAD5_REQUIRE(a);
    const mad5_neon_consts c = mad5_neon_init();
    for (size_t g = 0; g < a->row_groups; g++)
        for (int h = 0; h < MAD5_QUADS; h++) {
            size_t t = 0;
            for (; t + 2 <= a->n; t += 2)
                d5_quad(a, &c, g, h, t, 2);
            if (t < a->n)
                d5_quad(a, &c, g, h, t, 1);
        }
}
