#ifndef TR_VEC_H
#define TR_VEC_H
/* Shared by the kernels (not part of the module's headers). Register tiles are written with
 * clang/GCC vector extensions; `target_clones` builds an AVX-512 copy (16 lanes per
 * register, fused multiply-adds) and a baseline copy, chosen once by the dynamic loader. The
 * arithmetic is the same sums in the same order in both; only FMA contraction may differ
 * between the two copies. */

typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define LD(p) (*(const v16 *)(p))
#define SPLAT(s) ((float)(s) - (v16){0})   /* x - 0 is x for every x (also -0): a plain broadcast */

#if defined(__x86_64__) && defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define CLONES
#endif

/* The Winograd filter transforms work on 16 filters (o, c pairs) at a time, one per vector
 * lane. Moving data between filter-major memory and those lane blocks, shared by every tile
 * size (pure copies, so the transforms' bits do not depend on them): */

/* blk[q * 16 + i] = w[(oc0 + i) * taps + q] for lanes i < n, 0 for the rest. */
static inline void tr_lanes_from_taps(const float *w, long oc0, long n, int taps, float *blk) {
    for (long i = 0; i < 16; i++)
        for (int q = 0; q < taps; q++) blk[q * 16 + i] = i < n ? w[(oc0 + i) * taps + q] : 0.0f;
}

/* blk[x * 16 + i] = src[x * stride + oc0 + i] for the planes x < planes, lanes i < n, else 0. */
static inline void tr_lanes_from_planes(const float *src, long stride, long oc0, long n, int planes, float *blk) {
    for (int x = 0; x < planes; x++)
        for (long i = 0; i < 16; i++) blk[x * 16 + i] = i < n ? src[x * stride + oc0 + i] : 0.0f;
}

/* dst[i] = lanes[i] for i < n (one 64-byte copy when n == 16). */
static inline void tr_store_lanes(float *dst, const float *lanes, long n) {
    if (n == 16) __builtin_memcpy(dst, lanes, 16 * sizeof(float));
    else for (long i = 0; i < n; i++) dst[i] = lanes[i];
}

/* dw[(oc0 + i) * taps + q] (+)= blk[q * 16 + i] for lanes i < n. */
static inline void tr_taps_from_lanes(const float *blk, long oc0, long n, int taps, int accumulate, float *dw) {
    for (long i = 0; i < n; i++) {
        float *d = dw + (oc0 + i) * taps;
        for (int q = 0; q < taps; q++) d[q] = accumulate ? d[q] + blk[q * 16 + i] : blk[q * 16 + i];
    }
}

#endif
