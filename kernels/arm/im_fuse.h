/* Fused group scaling of the aarch64 IntMad kernels (neon.c, dotprod.c and
 * through it i8mm.c): lutgemm_kernels.h defines the operation, the
 * portable kernel (src/kernels/portable/mad.rs) the order. Static inline
 * only: each object is built with its own -march flags. */
#ifndef LUTGEMM_ARM_IM_FUSE_H
#define LUTGEMM_ARM_IM_FUSE_H

#include <arm_neon.h>

#include "../lutgemm_kernels.h"

#define IMF_INLINE static inline __attribute__((always_inline))

/* 4 scales (or offsets) at p: f16 (h) or f32. */
IMF_INLINE float32x4_t imf_load4(const uint8_t *p, int h)
{
    return h ? vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)p)))
             : vld1q_f32((const float *)(const void *)p);
}

/* Folds scale groups b0 .. b0+G-1 of row group g (its 16 rows as 4 quads)
 * into acc[q] (rows 4q..4q+3), one group after the other:
 *   acc = fma(s, f32(sum), acc); with offsets acc = fma(o, f32(qsum[b]), acc);
 *   with the zero point z instead: acc = fma(s, f32(sum - z·qsum[b]), acc).
 * Group c's int32 sums of quad q are sum[q * qs + c * gs]; qsum is the
 * token's group sums. vfmaq_f32 is one fused multiply-add (one rounding)
 * and vcvtq_f32_s32 rounds to nearest even, as the portable kernel. */
IMF_INLINE void imf_groups(const lutgemm_kernel_args *a, size_t g, const int32_t *qsum,
                           size_t b0, int G, const int32x4_t *sum, size_t qs, size_t gs,
                           float32x4_t acc[4])
{
    const int h = (a->fuse & LUTGEMM_FUSE_F16) != 0;
    const int off = (a->fuse & LUTGEMM_FUSE_OFFSETS) != 0;
    /* The zero point z = 2^(bits-1) folded into the sums (0: none). */
    const int32_t z = (a->fuse & LUTGEMM_FUSE_ZERO_POINT) ? (int32_t)1 << (a->bits - 1) : 0;
    const size_t esz = h ? 2 : 4, pg = 16 * esz * (off ? 2 : 1);
    const uint8_t *base = (const uint8_t *)a->gscale + g * a->gscale_stride;
    for (int c = 0; c < G; c++) {
        const size_t b = b0 + (size_t)c;
        const uint8_t *p = base + b * pg;
        const int32x4_t zq = vdupq_n_s32(z ? z * qsum[b] : 0);
        for (int q = 0; q < 4; q++)
            acc[q] = vfmaq_f32(acc[q], imf_load4(p + 4 * (size_t)q * esz, h),
                               vcvtq_f32_s32(vsubq_s32(sum[(size_t)q * qs + (size_t)c * gs], zq)));
        if (off) {
            const float32x4_t x = vdupq_n_f32((float)qsum[b]);
            for (int q = 0; q < 4; q++)
                acc[q] = vfmaq_f32(acc[q], imf_load4(p + (16 + 4 * (size_t)q) * esz, h), x);
        }
    }
}

/* A token's running sums of one row group between blocks of groups, kept
 * in its 16 float outputs o (stored and reloaded exactly): +0 before the
 * first block. */
IMF_INLINE void imf_load_acc(const float *o, int first, float32x4_t acc[4])
{
    for (int q = 0; q < 4; q++)
        acc[q] = first ? vdupq_n_f32(0.0f) : vld1q_f32(o + 4 * q);
}

IMF_INLINE void imf_store_acc(float *o, const float32x4_t acc[4])
{
    for (int q = 0; q < 4; q++)
        vst1q_f32(o + 4 * q, acc[q]);
}

#endif
