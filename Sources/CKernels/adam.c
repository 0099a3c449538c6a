#include "adam.h"
#include <math.h>

#if defined(__x86_64__) && defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define CLONES
#endif

CLONES void tr_adam_update(float *restrict m, float *restrict v, float *restrict w, const float *restrict g, long n,
                           float b1, float b2, float bc2Sqrt, float eps, float stepSize, float wd) {
#pragma clang fp contract(off)
    const float a1 = 1 - b1, a2 = 1 - b2;
    if (wd == 0) {
        for (long j = 0; j < n; j++) {
            float gj = g[j];
            m[j] += a1 * (gj - m[j]);
            v[j] = v[j] * b2 + a2 * gj * gj;
            float denom = sqrtf(v[j]) / bc2Sqrt + eps;
            w[j] -= stepSize * m[j] / denom;
        }
    } else {
        for (long j = 0; j < n; j++) {
            float gj = g[j] + wd * w[j];
            m[j] += a1 * (gj - m[j]);
            v[j] = v[j] * b2 + a2 * gj * gj;
            float denom = sqrtf(v[j]) / bc2Sqrt + eps;
            w[j] -= stepSize * m[j] / denom;
        }
    }
}
