#ifndef TR_WINOGRAD_S2T4_H
#define TR_WINOGRAD_S2T4_H

/* Winograd F(4x4, 2x2) over phase images, for the same 4x4, stride-2, padding-1 convolutions
 * (and transposes) as winograd_s2.h, with 4x4 output tiles: 25 products per channel pair and
 * tile instead of 64 (F(2x2, 2x2): 36 per 4x4 outputs). The convolution of x (C, 2oh, 2ow) is
 * the 2x2 correlation over the four phase images X_pq[c][u][v] = x[c][2u+p-1][2v+q-1] (zero
 * outside x) with sub-kernels w[o][c][2a+p][2b+q], input channel k = c*4 + p*2 + q. A tile
 * t = ty*tw + tx (th = oh/4, tw = ow/4) covers output rows 4ty..4ty+3 and columns
 * 4tx..4tx+3 and reads phase rows 4ty..4ty+4, columns 4tx..4tx+4. Points 0, 1, -1, 2, inf:
 *   B^T = [2 -1 -2 1 0; 0 -2 -1 1 0; 0 2 -3 1 0; 0 -1 0 1 0; 0 2 -1 -2 1],
 *   G   = [1/2 0; -1/2 -1/2; -1/6 1/6; 1/6 1/3; 0 1],
 *   A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 0; 0 1 -1 8 1].
 * Transformed arrays hold 25 planes xi = 5*alpha + beta (alpha vertical) `plane` floats
 * apart, rows `ld` apart within a plane; a tile's column is t. oh and ow must be multiples
 * of 4. The functions mirror winograd_s2.h's (same arguments, same roles). */

void tr_ws4_filter(const float *w, long O, long C, float *U, long lo, long hi);
void tr_ws4_input(const float *x, long C, long oh, long ow, float *V, long plane, long ld, long c0, long c1);
void tr_ws4_output(const float *M, long plane, long ld, long oh, long ow, float *y, long o0, long o1);
void tr_ws4_gout(const float *g, long oh, long ow, float *Gt, long plane, long ld, long o0, long o1);
void tr_ws4_input_adjoint(const float *Z, long plane, long ld, long oh, long ow, float *x, long c0, long c1);
void tr_ws4_filter_adjoint(const float *dU, long O, long C, float *dw, int accumulate, long lo, long hi);

#endif
