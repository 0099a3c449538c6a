#include "reduce.h"
#include "vec.h"

typedef double v8d __attribute__((vector_size(64), aligned(8)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* The lanes of a vector added in order, in double (a macro: vector arguments would change
 * the baseline copy's ABI). */
#define HSUM(v, lanes, out) do { for (int l_ = 0; l_ < (lanes); l_++) (out) += (double)(v)[l_]; } while (0)

CLONES double tr_plane_sum(const float *p, long n) {
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 += LD(p + i); a1 += LD(p + i + 16); a2 += LD(p + i + 32); a3 += LD(p + i + 48);
    }
    double s = 0;
    HSUM(a0, 16, s); HSUM(a1, 16, s); HSUM(a2, 16, s); HSUM(a3, 16, s);
    for (; i < n; i++) s += p[i];
    return s;
}

CLONES double tr_plane_sqdev(const float *p, long n, double mu) {
    v8d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const v8d m = (v8d){0} + mu;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        v8d d0 = __builtin_convertvector(*(const v8f *)(p + i), v8d) - m;
        v8d d1 = __builtin_convertvector(*(const v8f *)(p + i + 8), v8d) - m;
        v8d d2 = __builtin_convertvector(*(const v8f *)(p + i + 16), v8d) - m;
        v8d d3 = __builtin_convertvector(*(const v8f *)(p + i + 24), v8d) - m;
        a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3;
    }
    double s = 0;
    HSUM(a0, 8, s); HSUM(a1, 8, s); HSUM(a2, 8, s); HSUM(a3, 8, s);
    for (; i < n; i++) { double d = (double)p[i] - mu; s += d * d; }
    return s;
}

CLONES void tr_plane_dy_sums(const float *d, const float *p, long n, float mu, float istd, double *sd, double *sdx) {
    v16 a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
    const v16 m = SPLAT(mu), k = SPLAT(istd);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        v16 d0 = LD(d + i), d1 = LD(d + i + 16);
        a0 += d0; a1 += d1;
        b0 += d0 * ((LD(p + i) - m) * k); b1 += d1 * ((LD(p + i + 16) - m) * k);
    }
    double s = 0, t = 0;
    HSUM(a0, 16, s); HSUM(a1, 16, s); HSUM(b0, 16, t); HSUM(b1, 16, t);
    for (; i < n; i++) { s += d[i]; t += (double)(d[i] * ((p[i] - mu) * istd)); }
    *sd = s; *sdx = t;
}
