#include "gemm.h"
#include "vec.h"

/* Register tile: TR_GEMM_MR rows x 2 vectors of 16 columns, 24 accumulators. Written with
 * vector extensions; target_clones builds an AVX-512 copy and a baseline copy. */

#define MR TR_GEMM_MR
#define NR TR_GEMM_NR
/* Depth per pass: a packed A panel slice (MR x KC) stays in L1, the B block (KC x NCP*NR)
 * in L2. Blocking changes only where C is stored and reloaded, never the order of the chain. */
#define KC 256
#define NCP 16

long tr_gemm_packed_a_size(long M, long K) { return (M + MR - 1) / MR * MR * K; }
long tr_gemm_packed_b_size(long N, long K) { return (N + NR - 1) / NR * NR * K; }

CLONES void tr_gemm_pack_a(const float *A, long lda, int transA, long M, long K, float *Ap, long p0, long p1) {
    for (long p = p0; p < p1; p++) {
        float *dst = Ap + p * MR * K;
        long i0 = p * MR, rows = M - i0 < MR ? M - i0 : MR;
        if (transA) {
            for (long k = 0; k < K; k++) {
                const float *src = A + k * lda + i0;
                long r = 0;
                for (; r < rows; r++) dst[k * MR + r] = src[r];
                for (; r < MR; r++) dst[k * MR + r] = 0;
            }
        } else {
            for (long r = 0; r < MR; r++) {
                if (r < rows) {
                    const float *src = A + (i0 + r) * lda;
                    for (long k = 0; k < K; k++) dst[k * MR + r] = src[k];
                } else {
                    for (long k = 0; k < K; k++) dst[k * MR + r] = 0;
                }
            }
        }
    }
}

CLONES void tr_gemm_pack_b(const float *B, long ldb, long K, long N, float *Bp, long q0, long q1) {
    for (long q = q0; q < q1; q++) {
        float *dst = Bp + q * NR * K;
        long j0 = q * NR, cols = N - j0 < NR ? N - j0 : NR;
        if (cols == NR) {
            for (long k = 0; k < K; k++) {
                *(v16 *)(dst + k * NR) = LD(B + k * ldb + j0);
                *(v16 *)(dst + k * NR + 16) = LD(B + k * ldb + j0 + 16);
            }
        } else {
            for (long k = 0; k < K; k++) {
                long c = 0;
                for (; c < cols; c++) dst[k * NR + c] = B[k * ldb + j0 + c];
                for (; c < NR; c++) dst[k * NR + c] = 0;
            }
        }
    }
}

/* c (MR x NR, rows ldc apart) = a panel slice * b panel slice over kc, from c or from 0. */
static inline __attribute__((always_inline)) void tile(long kc, const float *restrict a, const float *restrict b,
                                                       float *restrict c, long ldc, int load) {
    v16 acc[MR][2];
    for (int r = 0; r < MR; r++) {
        acc[r][0] = load ? LD(c + r * ldc) : SPLAT(0);
        acc[r][1] = load ? LD(c + r * ldc + 16) : SPLAT(0);
    }
    for (long k = 0; k < kc; k++) {
        v16 b0 = LD(b), b1 = LD(b + 16);
        for (int r = 0; r < MR; r++) {
            const float av = a[r];   /* scalar * vector: a broadcast, no arithmetic on the scalar */
            acc[r][0] += av * b0;
            acc[r][1] += av * b1;
        }
        a += MR;
        b += NR;
    }
    for (int r = 0; r < MR; r++) {
        *(v16 *)(c + r * ldc) = acc[r][0];
        *(v16 *)(c + r * ldc + 16) = acc[r][1];
    }
}

CLONES void tr_gemm_packed(const float *Ap, const float *Bp, float *C, long ldc, long M, long N, long K,
                           long p0, long p1, int accumulate, long image_cols, long image_stride) {
    const long nq = (N + NR - 1) / NR;
    float edge[MR * NR];
    for (long k0 = 0; k0 < K; k0 += KC) {
        const long kc = K - k0 < KC ? K - k0 : KC;
        const int load = accumulate || k0 > 0;
        for (long qa = 0; qa < nq; qa += NCP) {
            const long qb = qa + NCP < nq ? qa + NCP : nq;
            for (long p = p0; p < p1; p++) {
                const float *a = Ap + p * MR * K + k0 * MR;
                const long i0 = p * MR, rows = M - i0 < MR ? M - i0 : MR;
                for (long q = qa; q < qb; q++) {
                    const float *b = Bp + q * NR * K + k0 * NR;
                    const long j0 = q * NR, cols = N - j0 < NR ? N - j0 : NR;
                    float *c = C + (j0 / image_cols) * image_stride + i0 * ldc + j0 % image_cols;
                    if (rows == MR && cols == NR) {
                        tile(kc, a, b, c, ldc, load);
                        continue;
                    }
                    /* Edge: the same chain through a full-size buffer (padding rows/columns are 0). */
                    for (long r = 0; r < MR; r++)
                        for (long j = 0; j < NR; j++) edge[r * NR + j] = load && r < rows && j < cols ? c[r * ldc + j] : 0;
                    tile(kc, a, b, edge, NR, load);
                    for (long r = 0; r < rows; r++)
                        for (long j = 0; j < cols; j++) c[r * ldc + j] = edge[r * NR + j];
                }
            }
        }
    }
}
