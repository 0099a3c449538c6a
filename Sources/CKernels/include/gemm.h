#ifndef TR_GEMM_H
#define TR_GEMM_H

/* A packed matrix product whose result for an element does not depend on where that
 * element is: every C[i][j] is the multiply-add chain over k = 0..K-1 in order, started from
 * 0 (or from C[i][j] when accumulating), whatever M, N, the blocking or the thread split.
 * Images batched along N therefore get the same bits as alone.
 *
 * op(A) is M x K, B is K x N, C is M x N, all row-major. A is packed into panels of
 * TR_GEMM_MR rows (k-major, zero-padded), B into panels of TR_GEMM_NR columns. */

#define TR_GEMM_MR 12
#define TR_GEMM_NR 32

/* Floats of packed storage for M rows (or N columns) and depth K. */
long tr_gemm_packed_a_size(long M, long K);
long tr_gemm_packed_b_size(long N, long K);

/* Packs A panels [p0, p1): A(i, k) = transA ? A[k * lda + i] : A[i * lda + k]. */
void tr_gemm_pack_a(const float *A, long lda, int transA, long M, long K, float *Ap, long p0, long p1);
/* Packs B panels [q0, q1) of B (K x N, rows ldb apart). */
void tr_gemm_pack_b(const float *B, long ldb, long K, long N, float *Bp, long q0, long q1);
/* C rows of A panels [p0, p1): C = op(A) * B (+ C if accumulate). C may be split into
 * images of image_cols columns each, image_stride floats apart: C(i, j) is at
 * C + (j / image_cols) * image_stride + i * ldc + j % image_cols. image_cols is a multiple of
 * TR_GEMM_NR, or >= N for one plain matrix. */
void tr_gemm_packed(const float *Ap, const float *Bp, float *C, long ldc, long M, long N, long K,
                    long p0, long p1, int accumulate, long image_cols, long image_stride);

/* The CPUs in this process's affinity mask (sched_getaffinity), or 0 when it cannot be read
 * (cpus.c; declared here so that builds with an existing module cache see it). */
int tr_affinity_cpus(void);

#endif
