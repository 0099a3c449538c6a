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
