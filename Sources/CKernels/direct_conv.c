#include "direct_conv.h"

/* Register tiles are written with clang/GCC vector extensions; `target_clones` builds an
 * AVX-512 copy (16 lanes per register, fused multiply-adds) and a baseline copy, chosen
 * once by the dynamic loader. The arithmetic is the same sums in the same order in both;
 * only FMA contraction may differ between the two copies. */

typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define LD(p) (*(const v16 *)(p))
#define SPLAT(s) ((v16){0} + (float)(s))

#if defined(__x86_64__) && defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define CLONES
#endif


/* One tile: OT output channels x XT vectors of 16 columns at (y, x). */
#define CORR_TILE(OT, XT)                                                                  \
    do {                                                                                   \
        v16 acc[OT][XT];                                                                   \
        for (int t = 0; t < OT; t++)                                                       \
            for (int v = 0; v < XT; v++)                                                   \
                acc[t][v] = accumulate ? LD(out + (o0 + t) * outPlane + y * outStride + x + 16 * v) \
                                       : SPLAT(0);                                         \
        for (long c = 0; c < C; c++) {                                                     \
            for (long i = 0; i < kh; i++) {                                                \
                const float *row = in + c * inPlane + (y + i) * inStride + x;              \
                const float *wr = w + o0 * wo + c * khw + i * kw;                          \
                for (long j = 0; j < kw; j++) {                                            \
                    v16 xv[XT];                                                            \
                    for (int v = 0; v < XT; v++) xv[v] = LD(row + j + 16 * v);             \
                    for (int t = 0; t < OT; t++) {                                         \
                        v16 wv = SPLAT(wr[t * wo + j]);                                    \
                        for (int v = 0; v < XT; v++) acc[t][v] += wv * xv[v];             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int t = 0; t < OT; t++)                                                       \
            for (int v = 0; v < XT; v++)                                                   \
                *(v16 *)(out + (o0 + t) * outPlane + y * outStride + x + 16 * v) = acc[t][v]; \
    } while (0)

#define CORR_ROW(OT)                                                                       \
    do {                                                                                   \
        long x = 0;                                                                        \
        for (; x + 64 <= outW; x += 64) CORR_TILE(OT, 4);                                  \
        for (; x + 16 <= outW; x += 16) CORR_TILE(OT, 1);                                  \
        for (; x < outW; x++) {                                                            \
            for (int t = 0; t < OT; t++) {                                                 \
                float s = accumulate ? out[(o0 + t) * outPlane + y * outStride + x] : 0;   \
                for (long c = 0; c < C; c++)                                               \
                    for (long i = 0; i < kh; i++) {                                        \
                        const float *row = in + c * inPlane + (y + i) * inStride + x;      \
                        const float *wr = w + (o0 + t) * wo + c * khw + i * kw;            \
                        for (long j = 0; j < kw; j++) s += wr[j] * row[j];                 \
                    }                                                                      \
                out[(o0 + t) * outPlane + y * outStride + x] = s;                          \
            }                                                                              \
        }                                                                                  \
    } while (0)

CLONES void tr_correlate(const float *in, long C, long inStride, long inPlane,
                         const float *w, long O, long kh, long kw,
                         float *out, long outW, long outStride, long outPlane,
                         long y0, long y1, int accumulate) {
    const long khw = kh * kw, wo = C * khw;
    for (long o0 = 0; o0 < O; o0 += 4) {
        const long ot = O - o0 < 4 ? O - o0 : 4;
        for (long y = y0; y < y1; y++) {
            switch (ot) {
            case 4: CORR_ROW(4); break;
            case 3: CORR_ROW(3); break;
            case 2: CORR_ROW(2); break;
            default: CORR_ROW(1); break;
            }
        }
    }
}

/* Weight gradient for OT output channels at a time, all kw (<= 8) taps of one kernel row. */
#define WGRAD_GROUP(OT)                                                                    \
    do {                                                                                   \
        v16 acc[OT][8];                                                                    \
        float sacc[OT][8];                                                                 \
        for (int t = 0; t < OT; t++)                                                       \
            for (int j = 0; j < 8; j++) { acc[t][j] = SPLAT(0); sacc[t][j] = 0; }          \
        for (long y = 0; y < outH; y++) {                                                  \
            const float *row = in + c * inPlane + (y + i) * inStride;                      \
            const float *gr = g + o0 * gPlane + y * gStride;                               \
            long x = 0;                                                                    \
            for (; x + 16 <= outW; x += 16) {                                              \
                v16 gv[OT];                                                                \
                for (int t = 0; t < OT; t++) gv[t] = LD(gr + t * gPlane + x);              \
                for (int j = 0; j < 8; j++) {                                              \
                    if (j < kw) {                                                          \
                        v16 xv = LD(row + x + j);                                          \
                        for (int t = 0; t < OT; t++) acc[t][j] += gv[t] * xv;             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
            for (; x < outW; x++)                                                          \
                for (int t = 0; t < OT; t++)                                               \
                    for (long j = 0; j < kw; j++) sacc[t][j] += gr[t * gPlane + x] * row[x + j]; \
        }                                                                                  \
        for (int t = 0; t < OT; t++)                                                       \
            for (long j = 0; j < kw; j++) {                                                \
                float *d = dw + (o0 + t) * wo + c * khw + i * kw + j;                      \
                float s = 0;                                                               \
                for (int l = 0; l < 16; l++) s += acc[t][j][l];                            \
                s += sacc[t][j];                                                           \
                *d = accumulate ? *d + s : s;                                              \
            }                                                                              \
    } while (0)

CLONES void tr_correlate_wgrad(const float *in, long C, long inStride, long inPlane,
                               const float *g, long O, long gStride, long gPlane, long outH, long outW,
                               float *dw, long kh, long kw, long c0, long c1, int accumulate) {
    const long khw = kh * kw, wo = C * khw;
    (void)C;
    for (long c = c0; c < c1; c++) {
        for (long i = 0; i < kh; i++) {
            for (long o0 = 0; o0 < O; o0 += 3) {
                const long ot = O - o0 < 3 ? O - o0 : 3;
                switch (ot) {
                case 3: WGRAD_GROUP(3); break;
                case 2: WGRAD_GROUP(2); break;
                default: WGRAD_GROUP(1); break;
                }
            }
        }
    }
}
