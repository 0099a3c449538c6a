#ifndef TR_WINOGRAD_S2_H
#define TR_WINOGRAD_S2_H

/* Winograd F(2x2, 2x2) for the 4x4, stride-2, padding-1 convolutions of the U-Net (and their
 * transposes). Such a convolution of x (C, 2oh, 2ow) is a stride-1 2x2 correlation over the
 * four phase images X_pq[c][u][v] = x[c][2u+p-1][2v+q-1] (zero outside x, u in 0..oh, v in
 * 0..ow) with the sub-kernels w[o][c][2a+p][2b+q]: 4C input channels, k = c*4 + p*2 + q.
 * A tile t = ty*tw + tx (th = oh/2, tw = ow/2) covers output rows 2ty, 2ty+1 and columns
 * 2tx, 2tx+1; it costs 9 products per channel pair instead of 16. The transforms use only
 * additions and subtractions:
 *   B^T = [1 -1 0; 0 1 0; 0 -1 1],  G = [1 0; 1 1; 0 1],  A^T = [1 1 0; 0 1 1].
 * A transposed convolution is the adjoint of such a convolution in x: its input plays the
 * output gradient (A g A^T per tile), the product uses U transposed, and B Z B^T of the tiles
 * is added up over the overlapping phase images.
 * Transformed arrays hold 9 planes xi = 3*alpha + beta (alpha vertical) `plane` floats apart,
 * rows `ld` apart within a plane; a tile's column is t. oh and ow must be even.
 * Ranges [lo, hi) split the work over threads. */

/* U[xi][o][k] (9, O, 4C) = (G g G^T)[xi] of each sub-kernel g of w (O, C, 4, 4); rows
 * oc = o*C + c in [lo, hi). */
void tr_ws2_filter(const float *w, long O, long C, float *U, long lo, long hi);
/* V[xi][k][t] = (B^T d B)[xi] of each tile of the phase images of x (C, 2oh, 2ow), c in [c0, c1). */
void tr_ws2_input(const float *x, long C, long oh, long ow, float *V, long plane, long ld, long c0, long c1);
/* y[o] (oh, ow) = (A^T M A) of each tile of M[xi][o][t], o in [o0, o1). */
void tr_ws2_output(const float *M, long plane, long ld, long oh, long ow, float *y, long o0, long o1);
/* Gt[xi][o][t] = (A g A^T)[xi] of each 2x2 tile of g (O, oh, ow), o in [o0, o1). */
void tr_ws2_gout(const float *g, long oh, long ow, float *Gt, long plane, long ld, long o0, long o1);
/* x[c] (2oh, 2ow) = the phase images' sums of B Z B^T over the tiles of Z[xi][k][t] (written,
 * not added), c in [c0, c1). */
void tr_ws2_input_adjoint(const float *Z, long plane, long ld, long oh, long ow, float *x, long c0, long c1);
/* dw[o][c] (4, 4) = (or += if accumulate) G^T dU[.][o][k] G of each sub-kernel: the adjoint of
 * tr_ws2_filter, for weight gradients (dU (9, O, 4C) = sum over tiles of Gt V^T); rows
 * oc = o*C + c in [lo, hi). */
void tr_ws2_filter_adjoint(const float *dU, long O, long C, float *dw, int accumulate, long lo, long hi);

#endif
