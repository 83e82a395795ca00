/* NEON (Armv8.0) vector-LUT kernel for ternary weights under the exact
 * contract: the loop nest of kernels/veclut_vec.h with a table row (32
 * int16 tokens) in four q registers and register blocks of 4 rows (16
 * accumulators of the 32). Per index byte: two ldp of 32 bytes and four
 * add.8h for 4 columns × 32 tokens. Built at the plain NEON level, so the
 * dotprod and i8mm levels run it too. */

#define VLV_BYTES 16
#include "../veclut_vec.h"

LUTGEMM_VECLUT_VEC_KERNEL(lutgemm_neon_ternary_veclut_g4, 4)

/* The integer vector-LUT (Layout::IntVecLut): kernels/veclut_int.h with a
 * table row in four q registers and register blocks of 4 rows; f16 group
 * scales by one fcvt. */
#include <string.h>
static inline float neon_f16_to_f32(uint16_t bits)
{
    __fp16 h;
    memcpy(&h, &bits, sizeof h);
    return (float)h;
}
#define IVL_F16_TO_F32 neon_f16_to_f32
#include "../veclut_int.h"

LUTGEMM_VECLUT_INT_KERNEL(lutgemm_neon_int_veclut, 4)

/* The Float vector-LUT (kernels/veclut_float.h): a table row of 32 f32
 * tokens in eight q registers, register blocks of 2 rows. */
#include <arm_neon.h>
/* One sxtl per 8 bytes (GCC 12 builds the generic conversion lane by
 * lane: ldrsb + ins for each of the 8). */
#define VLQ_WIDEN(p) ((vlq_i16)vmovl_s8(vld1_s8((const int8_t *)(p))))
#include "../veclut_float.h"

LUTGEMM_VECLUT_F32_KERNEL(lutgemm_neon_ternary_veclut_g4_float, 2, 0, 0)

/* The Fast vector-LUT (kernels/veclut_float.h, Fast section): a row of 32 int8 tokens
 * sign-extended into four q registers, register blocks of 4 rows. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_neon_ternary_veclut_g4_fast, 4, 1, 0)

/* The Float and Fast vector-LUT for 1-4-bit integers (kernels/veclut_float.h,
 * Layout::IntVecLut): the ternary kernels' register blocks, two nibble rows
 * a byte. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_neon_int_veclut_float, 2, 0, 1)
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_neon_int_veclut_fast, 4, 1, 1)
