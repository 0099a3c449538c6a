#ifndef TRANSLATE_REDUCE_H
#define TRANSLATE_REDUCE_H

/* Sums over one plane of n floats for the normalisation layers, vectorised with a fixed
 * association (64 float lanes, or 32 double lanes, each summing every 64th / 32nd value in
 * order, then the lanes added in order in double), so a plane's result does not depend on
 * how the planes are shared among threads. */

/* sum of p[0..n) */
double tr_plane_sum(const float *p, long n);
/* sum of (p[i] - mu)^2 in double */
double tr_plane_sqdev(const float *p, long n, double mu);
/* *sd = sum of d[i], *sdx = sum of d[i] * (p[i] - mu) * istd */
void tr_plane_dy_sums(const float *d, const float *p, long n, float mu, float istd, double *sd, double *sdx);

#endif
