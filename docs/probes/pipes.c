/* Which AVX-512 instructions share execution pipes with vpdpbusd: each row
 * times 8 independent vpdpbusd zmm per iteration alone and with other
 * independent instructions added (dependency chains long enough that only
 * throughput counts). The figures quoted in kernels/x86/avx512_int.c
 * ("Layout A'") and the README come from this file on a Zen 4 guest.
 *
 *   gcc -O2 -mavx512f -mavx512bw -mavx512vnni -mavx512vbmi -mf16c \
 *       docs/probes/pipes.c -o pipes && ./pipes [GHz]
 *
 * Cycles assume the given clock (default 3.66 GHz, the rate at which one
 * vpdpbusd zmm per cycle matches the quick bench's measured VNNI peak);
 * compare the rows with each other, not with a datasheet. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 20000000L

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

#define VNNI8                                                                  \
    a0 = _mm512_dpbusd_epi32(a0, w, x); a1 = _mm512_dpbusd_epi32(a1, w, x);    \
    a2 = _mm512_dpbusd_epi32(a2, w, x); a3 = _mm512_dpbusd_epi32(a3, w, x);    \
    a4 = _mm512_dpbusd_epi32(a4, w, x); a5 = _mm512_dpbusd_epi32(a5, w, x);    \
    a6 = _mm512_dpbusd_epi32(a6, w, x); a7 = _mm512_dpbusd_epi32(a7, w, x);
#define PIN                                                                    \
    __asm__("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),   \
            "+v"(a6), "+v"(a7));                                               \
    __asm__("" : "+v"(f0), "+v"(f1), "+v"(f2), "+v"(f3), "+v"(p0), "+v"(p1),    \
            "+v"(p2), "+v"(p3));                                               \
    __asm__("" : "+v"(q0), "+v"(q1), "+v"(q2), "+v"(q3));
#define ROW(name, BODY)                                                        \
    do {                                                                       \
        const double t0 = now_ns();                                            \
        for (long i = 0; i < N; i++) {                                         \
            BODY PIN                                                           \
        }                                                                      \
        printf("%-34s %5.1f cycles\n", name, (now_ns() - t0) / N * ghz);       \
    } while (0)

#define F(op) f0 = op(f0); f1 = op(f1); f2 = op(f2); f3 = op(f3);
#define FMA(v) _mm512_fmadd_ps(v, s, c)
#define AND(v) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), w))
#define CVT(v) _mm512_cvtepi32_ps(_mm512_castps_si512(v))
#define SRL(v) _mm512_castsi512_ps(_mm512_srli_epi16(_mm512_castps_si512(v), 1))
#define CVTPH(v) _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_castps_si512(v)))
#define P2(v) v = _mm512_permutex2var_epi8(t, v, u);
#define PERM8 P2(p0) P2(p1) P2(p2) P2(p3) P2(q0) P2(q1) P2(q2) P2(q3)
/* Two lut_g4 steps (avx512.c lut4_run): per 64 rows × 4 weights two
 * vpermi2b (low and high bytes of the int16 entries), two unpacks and two
 * vpaddw: 256 MACs, the work of 4 vpdpbusd. */
#define LUT(l, h, i)                                                           \
    {                                                                          \
        const __m512i lo_ = _mm512_permutex2var_epi8(t, i, u);                 \
        const __m512i hi_ = _mm512_permutex2var_epi8(u, i, t);                 \
        l = _mm512_add_epi16(l, _mm512_unpacklo_epi8(lo_, hi_));                \
        h = _mm512_add_epi16(h, _mm512_unpackhi_epi8(lo_, hi_));                \
    }
#define LUT2 LUT(p0, p1, q0) LUT(p2, p3, q1)

int main(int argc, char **argv)
{
    const double ghz = argc > 1 ? atof(argv[1]) : 3.66;
    __m512i a0, a1, a2, a3, a4, a5, a6, a7;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm512_setzero_si512();
    __m512 f0, f1, f2, f3;
    f0 = f1 = f2 = f3 = _mm512_set1_ps(1.0f);
    __m512i p0, p1, p2, p3, q0, q1, q2, q3;
    p0 = p1 = p2 = p3 = q0 = q1 = q2 = q3 = _mm512_set1_epi8(3);
    __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
    __m512i t = _mm512_set1_epi8(7), u = _mm512_set1_epi8(9);
    __m512 s = _mm512_set1_ps(1.0001f), c = _mm512_set1_ps(0.5f);
    __asm__("" : "+v"(w), "+v"(x), "+v"(t), "+v"(u), "+v"(s), "+v"(c));
    ROW("8 vpdpbusd", VNNI8);
    ROW("8 vpdpbusd + 4 vfmadd", VNNI8 F(FMA));
    ROW("8 vpdpbusd + 8 vpandd", VNNI8 F(AND) F(AND));
    ROW("8 vpdpbusd + 4 vcvtdq2ps", VNNI8 F(CVT));
    ROW("8 vpdpbusd + 4 vpsrlw", VNNI8 F(SRL));
    ROW("8 vpdpbusd + 4 vcvtph2ps", VNNI8 F(CVTPH));
    ROW("8 vpermi2b", PERM8);
    ROW("8 vpdpbusd + 8 vpermi2b", VNNI8 PERM8);
    ROW("2 lut_g4 steps (512 MACs)", LUT2);
    ROW("8 vpdpbusd + 2 lut_g4 steps", VNNI8 LUT2);
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
    r = _mm512_add_epi32(r, _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    r = _mm512_add_epi32(r, _mm512_add_epi32(_mm512_add_epi32(p0, p1), _mm512_add_epi32(p2, p3)));
    r = _mm512_add_epi32(r, _mm512_add_epi32(_mm512_add_epi32(q0, q1), _mm512_add_epi32(q2, q3)));
    r = _mm512_add_epi32(r, _mm512_castps_si512(_mm512_add_ps(_mm512_add_ps(f0, f1), _mm512_add_ps(f2, f3))));
    return _mm512_reduce_add_epi32(r) == 42;
}
