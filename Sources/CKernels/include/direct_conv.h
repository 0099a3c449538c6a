#ifndef TRANSLATE_DIRECT_CONV_H
#define TRANSLATE_DIRECT_CONV_H

/* Direct stride-1 cross-correlation kernels for convolutions whose matrix-product shape is
 * poor: few output channels (the 7x7 ngf -> 3 layer of the ResNet generator, PatchGAN's
 * last layer). Planes are row-major with the given strides; all sizes in elements.
 * Compiled twice (AVX-512 and baseline x86-64) and picked at load time by the CPU. */

/* out[o][y][x] (+)= sum_{c<C, i<kh, j<kw} w[o][c][i][j] * in[c][y+i][x+j]
 * for o < O, y0 <= y < y1, x < outW. `in` rows must hold outW + kw - 1 readable values.
 * accumulate = 0 overwrites out, 1 adds to it. */
void tr_correlate(const float *in, long C, long inStride, long inPlane,
                  const float *w, long O, long kh, long kw,
                  float *out, long outW, long outStride, long outPlane,
                  long y0, long y1, int accumulate);

/* dw[o][c][i][j] (+)= sum_{y<outH, x<outW} g[o][y][x] * in[c][y+i][x+j]
 * for o < O, c0 <= c < c1; kw <= 8. dw is (O, C, kh, kw) contiguous. */
void tr_correlate_wgrad(const float *in, long C, long inStride, long inPlane,
                        const float *g, long O, long gStride, long gPlane, long outH, long outW,
                        float *dw, long kh, long kw, long c0, long c1, int accumulate);

#endif

/* Winograd F(2x2, 3x3) transforms for stride-1 3x3 convolutions. A tile t = ty*tw + tx covers
 * output rows 2ty, 2ty+1 and columns 2tx, 2tx+1; its 4x4 input patch starts at input row
 * 2ty - pad, column 2tx - pad (zero outside the image). Transformed arrays are 16 planes
 * xi = 4i + j (i: vertical, j: horizontal component). Ranges [lo, hi) split the work over threads.
 * scratch: 32 * (tw + 1) floats per concurrent call. */

/* V[xi][c][t] = (B^T d B)[xi] for input planes x (C, H, W), c in [c0, c1). */
void tr_wino_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                   float *V, long c0, long c1, float *scratch);
/* U[xi][o][c] = (G w G^T)[xi] for w (O, C, 3, 3), rows oc = o*C + c in [lo, hi). */
void tr_wino_filter(const float *w, long O, long C, float *U, long lo, long hi);
/* y[o] (oh, ow) (+)= (A^T M A) of each tile, o in [o0, o1). */
void tr_wino_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                    int accumulate, long o0, long o1, float *scratch);
/* Gt[xi][o][t] = (A g A^T)[xi] for output-gradient planes g (O, oh, ow), o in [o0, o1). */
void tr_wino_gout(const float *g, long O, long oh, long ow, long th, long tw,
                  float *Gt, long o0, long o1, float *scratch);
/* dw (O, C, 3, 3) (+)= G^T Wh[.][o][c] G, rows oc in [lo, hi). */
void tr_wino_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi);

/* Winograd F(2x2, 4x4) for stride-1 4x4 convolutions (winograd_k4.c): the same layouts and
 * arguments as the F(2x2, 3x3) functions above, with 25 planes xi = 5i + j and 5x5 input
 * patches starting at row 2ty - pad, column 2tx - pad. scratch: 32 * (tw + 1) floats per
 * concurrent call. */
void tr_wk4_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                  float *V, long c0, long c1, float *scratch);
void tr_wk4_filter(const float *w, long O, long C, float *U, long lo, long hi);
void tr_wk4_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                   int accumulate, long o0, long o1, float *scratch);
void tr_wk4_gout(const float *g, long O, long oh, long ow, long th, long tw,
                 float *Gt, long o0, long o1, float *scratch);
void tr_wk4_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi);

/* Winograd F(4x4, 3x3) for stride-1 3x3 convolutions on large planes (winograd_f43.c): the
 * same layouts and arguments as the F(2x2, 3x3) functions, with 36 planes xi = 6i + j, 4x4
 * output tiles and 6x6 input patches starting at row 4ty - pad, column 4tx - pad.
 * scratch: 40 * (tw + 1) floats per concurrent call. */
void tr_wf43_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                   float *V, long c0, long c1, float *scratch);
void tr_wf43_filter(const float *w, long O, long C, float *U, long lo, long hi);
void tr_wf43_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                    int accumulate, long o0, long o1, float *scratch);
void tr_wf43_gout(const float *g, long O, long oh, long ow, long th, long tw,
                  float *Gt, long o0, long o1, float *scratch);
void tr_wf43_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi);

/* Winograd F(3x3, 4x4) for stride-1 4x4 convolutions (winograd_f43.c, the same six points
 * as F(4x4, 3x3), so the same input transform): the same layouts and arguments, with 36
 * planes xi = 6i + j, 3x3 output tiles and 6x6 input patches starting at row 3ty - pad,
 * column 3tx - pad. scratch: 40 * (tw + 1) floats per concurrent call. */
void tr_wk43_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                   float *V, long c0, long c1, float *scratch);
void tr_wk43_filter(const float *w, long O, long C, float *U, long lo, long hi);
void tr_wk43_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                    int accumulate, long o0, long o1, float *scratch);
void tr_wk43_gout(const float *g, long O, long oh, long ow, long th, long tw,
                  float *Gt, long o0, long o1, float *scratch);
void tr_wk43_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi);

/* im2col / col2im for the 4x4, stride 2, padding 1 convolutions of the U-Net and PatchGAN
 * (dilation 1): x (C, H, W), column rows r = (c*4 + ki)*4 + kj, `ld` apart, output rows
 * [y0, y1) (im2col writes them from column 0; col2im reads all oh rows). Channels [c0, c1).
 * scratch: 4 * (ow + 2) floats per concurrent call. */
void tr_im2col_k4s2p1(const float *x, long H, long W, long oh, long ow, float *cols, long ld,
                      long y0, long y1, long c0, long c1, float *scratch);
void tr_col2im_k4s2p1(const float *cols, long ld, long H, long W, long oh, long ow, float *x,
                      long c0, long c1, float *scratch);

/* C (M x n) = op(A) (M x K) * B (K x n) for few columns n (one image's plane, or a batch of
 * small planes): op(A)[i][k] = A[i*lda + k], or A[k*lda + i] when transA. B and C rows hold
 * at least roundup(n, 16) readable/writable values (B's padding zero); rows i in [i0, i1).
 * Every element is one multiply-add chain over k = 0..K-1 in order, the same for any n and
 * any column position: a column's result does not depend on the other columns. */
void tr_gemm_fewcols(const float *A, long lda, int transA, const float *B, long ldb, float *C, long ldc,
                     long n, long K, long i0, long i1);
