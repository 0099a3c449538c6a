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

#endif
