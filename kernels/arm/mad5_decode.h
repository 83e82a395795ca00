/* Decode of five ternary weights per byte (Layout::TernaryMad5; encoding:
 * src/layout/trit5.rs and ../trit5.h) for the aarch64 mad5 kernels
 * (neon_mad5.c, dotprod_mad5.c). Static inline, baseline Armv8.0 NEON
 * only: objects built with different -march flags include it.
 *
 * Per 16 bytes (4 rows × 4 bytes of one step):
 *   fields: tbl + tbx over the 8 registers of TRIT5_FIELDS, indexed by the
 *           low 7 bits (tbl covers 0..63, tbx the rest: an index >= 64
 *           leaves tbx's lane alone), then 0xAA − f where bit 7 is set;
 *   c4:     arithmetic, no second table (8 registers saved): z4 = 81·y mod
 *           256 (byte multiply), y = byte | 0x80, and c4 = ⌊3·z4 / 256⌋ =
 *           ⌊⌊3·z4 / 4⌋ / 64⌋ = (uhadd(z4, z4 >> 1)) >> 6 (the halving add
 *           is ⌊(z + ⌊z/2⌋) / 2⌋ = ⌊3z/4⌋ without overflow), then 2 − c4
 *           where bit 7 is set.
 * 15 instructions for 80 weights' codes. */
#ifndef LUTGEMM_ARM_MAD5_DECODE_H
#define LUTGEMM_ARM_MAD5_DECODE_H

#include <arm_neon.h>

#include "../trit5.h"
#include "lutgemm_kernels.h"

/* Rows per row group (Layout::TernaryMad5 { mr: 16 } on aarch64), handled
 * as 4 quads of 4 rows (16 bytes of a step). */
#define MAD5_MR 16
#define MAD5_QUADS 4

/* What both kernels assume of their arguments. */
#define MAD5_REQUIRE(a)                                                        \
    do {                                                                       \
        LUTGEMM_REQUIRE((a)->mr == MAD5_MR && (a)->kc == TRIT5_STEP &&         \
                        (a)->plane_out == 1);                                  \
        LUTGEMM_REQUIRE((a)->bp % TRIT5_STEP == 0 &&                           \
                        (a)->w_stride == (a)->mr * (a)->nb * (a)->bp / 5);     \
    } while (0)

/* Rows 4h..4h+3 of row group g, token t, scale group b: `sum` (their
 * Σ x·(c + 1)) minus the group's activation sum (c = code − 1), stored to
 * the int32 outputs: one vector when nb == 1, else a lane per row. */
static inline __attribute__((always_inline)) void
mad5_store_quad(const lutgemm_kernel_args *a, size_t g, int h, size_t t, size_t b, int32x4_t sum)
{
    const int32x4_t r = vsubq_s32(sum, vdupq_n_s32(a->qsum[t * a->qsum_stride + b]));
    int32_t *o = (int32_t *)a->out + t * a->out_stride + (g * MAD5_MR + 4 * (size_t)h) * a->nb + b;
    if (a->nb == 1) {
        vst1q_s32(o, r);
    } else {
        vst1q_lane_s32(o, r, 0);
        vst1q_lane_s32(o + a->nb, r, 1);
        vst1q_lane_s32(o + 2 * a->nb, r, 2);
        vst1q_lane_s32(o + 3 * a->nb, r, 3);
    }
}

typedef struct {
    uint8x16x4_t lo, hi; /* TRIT5_FIELDS[0..64), [64..128) */
    uint8x16_t m7f, c64, aa, two, c80, c81;
} mad5_neon_consts;

static inline __attribute__((always_inline)) mad5_neon_consts mad5_neon_init(void)
{
    mad5_neon_consts c;
    c.lo = vld1q_u8_x4(TRIT5_FIELDS);
    c.hi = vld1q_u8_x4(TRIT5_FIELDS + 64);
    c.m7f = vdupq_n_u8(0x7f);
    c.c64 = vdupq_n_u8(64);
    c.aa = vdupq_n_u8(0xaa);
    c.two = vdupq_n_u8(2);
    c.c80 = vdupq_n_u8(0x80);
    c.c81 = vdupq_n_u8(81);
    return c;
}

/* The sign-applied fields byte (c0 | c1 << 2 | c2 << 4 | c3 << 6) and c4
 * of each of the 16 bytes of v. */
static inline __attribute__((always_inline)) void mad5_neon_decode(const mad5_neon_consts *c,
                                                                   uint8x16_t v, uint8x16_t *f,
                                                                   uint8x16_t *c4)
{
    const uint8x16_t l = vandq_u8(v, c->m7f);
    const uint8x16_t neg = vcltzq_s8(vreinterpretq_s8_u8(v));
    uint8x16_t t = vqtbx4q_u8(vqtbl4q_u8(c->lo, l), c->hi, vsubq_u8(l, c->c64));
    *f = vbslq_u8(neg, vsubq_u8(c->aa, t), t);
    const uint8x16_t z4 = vmulq_u8(vorrq_u8(v, c->c80), c->c81);
    const uint8x16_t d4 = vshrq_n_u8(vhaddq_u8(z4, vshrq_n_u8(z4, 1)), 6);
    *c4 = vbslq_u8(neg, vsubq_u8(c->two, d4), d4);
}

#endif
