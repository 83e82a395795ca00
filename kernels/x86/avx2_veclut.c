/* AVX2 vector-LUT kernel for ternary weights under the exact contract:
 * the loop nest of kernels/veclut_vec.h with a table row (32 int16
 * tokens) in two ymm registers and register blocks of 4 rows (8
 * accumulators of the 16 ymm). Per index byte: two 32-byte loads and two
 * vpaddw for 4 columns × 32 tokens. */

#define VLV_BYTES 32
#include "../veclut_vec.h"

LUTGEMM_VECLUT_VEC_KERNEL(lutgemm_avx2_ternary_veclut_g4, 4)

/* The integer vector-LUT (Layout::IntVecLut): kernels/veclut_int.h with a
 * table row in two ymm and register blocks of 4 rows. */
#include <immintrin.h>
#define IVL_F16_TO_F32(h) _cvtsh_ss(h)
#include "../veclut_int.h"

LUTGEMM_VECLUT_INT_KERNEL(lutgemm_avx2_int_veclut, 4)

/* The Float vector-LUT (kernels/veclut_float.h): a table row of 32 f32
 * tokens in four ymm, register blocks of 2 rows. */
#define VLQ_WIDEN(p) ((vlq_i16)_mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(const void *)(p))))
#include "../veclut_float.h"

LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx2_ternary_veclut_g4_float, 2, 0, 0)

/* The Fast vector-LUT (kernels/veclut_float.h, Fast section): a row of 32 int8 tokens
 * sign-extended into two ymm, register blocks of 4 rows. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx2_ternary_veclut_g4_fast, 4, 1, 0)

/* The Float and Fast vector-LUT for 1-4-bit integers (kernels/veclut_float.h,
 * Layout::IntVecLut): the ternary kernels' register blocks, two nibble rows
 * a byte. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx2_int_veclut_float, 2, 0, 1)
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx2_int_veclut_fast, 4, 1, 1)
