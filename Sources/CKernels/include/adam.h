#ifndef TRANSLATE_ADAM_H
#define TRANSLATE_ADAM_H

/* One Adam update of n parameters, elementwise (as NN.Adam.step, same operations in the same
 * order, no fused multiply-adds, so the result is bit-identical to the scalar loop):
 *   g' = g + wd * w (wd != 0);  m += (1 - b1) * (g' - m);  v = v * b2 + (1 - b2) * g' * g'
 *   w -= stepSize * m / (sqrt(v) / bc2Sqrt + eps) */
void tr_adam_update(float *m, float *v, float *w, const float *g, long n, float b1, float b2,
                    float bc2Sqrt, float eps, float stepSize, float wd);

#endif
