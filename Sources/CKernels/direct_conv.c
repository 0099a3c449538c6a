#include "direct_conv.h"
#include "vec.h"

/* One tile: OT output channels x XT vectors of 16 columns at (y, x). */
#define CORR_TILE(OT, XT)                                                                  \
    do {                                                                                   \
        v16 acc[OT][XT];                                                                   \
        for (int t = 0; t < OT; t++)                                                       \
            for (int v = 0; v < XT; v++)                                                   \
                acc[t][v] = accumulate ? LD(out + (o0 + t) * outPlane + y * outStride + x + 16 * v) \
                                       : SPLAT(0);                                         \
        for (long c = 0; c < C; c++) {                                                     \
            for (long i = 0; i < kh; i++) {                                                \
                const float *row = in + c * inPlane + (y + i) * inStride + x;              \
                const float *wr = w + o0 * wo + c * khw + i * kw;                          \
                for (long j = 0; j < kw; j++) {                                            \
                    v16 xv[XT];                                                            \
                    for (int v = 0; v < XT; v++) xv[v] = LD(row + j + 16 * v);             \
                    for (int t = 0; t < OT; t++) {                                         \
                        v16 wv = SPLAT(wr[t * wo + j]);                                    \
                        for (int v = 0; v < XT; v++) acc[t][v] += wv * xv[v];             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int t = 0; t < OT; t++)                                                       \
            for (int v = 0; v < XT; v++)                                                   \
                *(v16 *)(out + (o0 + t) * outPlane + y * outStride + x + 16 * v) = acc[t][v]; \
    } while (0)

#define CORR_ROW(OT)                                                                       \
    do {                                                                                   \
        long x = 0;                                                                        \
        for (; x + 64 <= outW; x += 64) CORR_TILE(OT, 4);                                  \
        for (; x + 16 <= outW; x += 16) CORR_TILE(OT, 1);                                  \
        for (; x < outW; x++) {                                                            \
            for (int t = 0; t < OT; t++) {                                                 \
                float s = accumulate ? out[(o0 + t) * outPlane + y * outStride + x] : 0;   \
                for (long c = 0; c < C; c++)                                               \
                    for (long i = 0; i < kh; i++) {                                        \
                        const float *row = in + c * inPlane + (y + i) * inStride + x;      \
                        const float *wr = w + (o0 + t) * wo + c * khw + i * kw;            \
                        for (long j = 0; j < kw; j++) s += wr[j] * row[j];                 \
                    }                                                                      \
                out[(o0 + t) * outPlane + y * outStride + x] = s;                          \
            }                                                                              \
        }                                                                                  \
    } while (0)

CLONES void tr_correlate(const float *in, long C, long inStride, long inPlane,
                         const float *w, long O, long kh, long kw,
                         float *out, long outW, long outStride, long outPlane,
                         long y0, long y1, int accumulate) {
    const long khw = kh * kw, wo = C * khw;
    for (long o0 = 0; o0 < O; o0 += 4) {
        const long ot = O - o0 < 4 ? O - o0 : 4;
        for (long y = y0; y < y1; y++) {
            switch (ot) {
            case 4: CORR_ROW(4); break;
            case 3: CORR_ROW(3); break;
            case 2: CORR_ROW(2); break;
            default: CORR_ROW(1); break;
            }
        }
    }
}

/* Weight gradient for OT output channels at a time, all kw (<= 8) taps of one kernel row. */
#define WGRAD_GROUP(OT)                                                                    \
    do {                                                                                   \
        v16 acc[OT][8];                                                                    \
        float sacc[OT][8];                                                                 \
        for (int t = 0; t < OT; t++)                                                       \
            for (int j = 0; j < 8; j++) { acc[t][j] = SPLAT(0); sacc[t][j] = 0; }          \
        for (long y = 0; y < outH; y++) {                                                  \
            const float *row = in + c * inPlane + (y + i) * inStride;                      \
            const float *gr = g + o0 * gPlane + y * gStride;                               \
            long x = 0;                                                                    \
            for (; x + 16 <= outW; x += 16) {                                              \
                v16 gv[OT];                                                                \
                for (int t = 0; t < OT; t++) gv[t] = LD(gr + t * gPlane + x);              \
                for (int j = 0; j < 8; j++) {                                              \
                    if (j < kw) {                                                          \
                        v16 xv = LD(row + x + j);                                          \
                        for (int t = 0; t < OT; t++) acc[t][j] += gv[t] * xv;             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
            for (; x < outW; x++)                                                          \
                for (int t = 0; t < OT; t++)                                               \
                    for (long j = 0; j < kw; j++) sacc[t][j] += gr[t * gPlane + x] * row[x + j]; \
        }                                                                                  \
        for (int t = 0; t < OT; t++)                                                       \
            for (long j = 0; j < kw; j++) {                                                \
                float *d = dw + (o0 + t) * wo + c * khw + i * kw + j;                      \
                float s = 0;                                                               \
                for (int l = 0; l < 16; l++) s += acc[t][j][l];                            \
                s += sacc[t][j];                                                           \
                *d = accumulate ? *d + s : s;                                              \
            }                                                                              \
    } while (0)

CLONES void tr_correlate_wgrad(const float *in, long C, long inStride, long inPlane,
                               const float *g, long O, long gStride, long gPlane, long outH, long outW,
                               float *dw, long kh, long kw, long c0, long c1, int accumulate) {
    const long khw = kh * kw, wo = C * khw;
    (void)C;
    for (long c = c0; c < c1; c++) {
        for (long i = 0; i < kh; i++) {
            for (long o0 = 0; o0 < O; o0 += 3) {
                const long ot = O - o0 < 3 ? O - o0 : 3;
                switch (ot) {
                case 3: WGRAD_GROUP(3); break;
                case 2: WGRAD_GROUP(2); break;
                default: WGRAD_GROUP(1); break;
                }
            }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) ----
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 * A^T = [1 1 1 0; 0 1 -1 -1]. Forward: y = A^T [(G w G^T) . (B^T d B)] A. Weight gradient,
 * the adjoint of that bilinear form in w: dw = G^T [sum over tiles (A g A^T) . (B^T d B)] G. */

/* Even and odd columns of a row, E[m] = row[2m - off], Od[m] = row[2m + 1 - off], m <= n,
 * zero outside [0, W) or when row is NULL. */
static inline void split_row(const float *row, long W, long off, long n, float *E, float *Od) {
    for (long m = 0; m <= n; m++) {
        long ce = 2 * m - off, co = ce + 1;
        E[m] = (row && ce >= 0 && ce < W) ? row[ce] : 0.0f;
        Od[m] = (row && co >= 0 && co < W) ? row[co] : 0.0f;
    }
}

/* Horizontal B^T transform of one split row: h[j][tx] for the 4 components
 * (E1 = E + 1, Od1 = Od + 1: separate parameters so that the loop has no carried loads). */
static inline void row_bt_(const float *restrict E, const float *restrict E1, const float *restrict Od,
                           const float *restrict Od1, long tw, float *restrict h0, float *restrict h1,
                           float *restrict h2, float *restrict h3) {
    for (long t = 0; t < tw; t++) {
        h0[t] = E[t] - E1[t]; h1[t] = Od[t] + E1[t]; h2[t] = E1[t] - Od[t]; h3[t] = Od[t] - Od1[t];
    }
}
static inline void row_bt(const float *E, const float *Od, long tw, float *h) {
    row_bt_(E, E + 1, Od, Od + 1, tw, h, h + tw, h + 2 * tw, h + 3 * tw);
}

/* out[2t] = q0 + q1 + q2, out[2t + 1] = q1 - q2 - q3: one output row pair of A^T . A. */
static inline void row_at(const float *restrict q0, const float *restrict q1, const float *restrict q2,
                          const float *restrict q3, long tw, float *restrict out) {
    for (long t = 0; t < tw; t++) {
        out[2 * t] = q0[t] + q1[t] + q2[t];
        out[2 * t + 1] = q1[t] - q2[t] - q3[t];
    }
}

/* s0 = m0 + m1 + m2, s1 = m1 - m2 - m3: the vertical A^T step. */
static inline void col_at(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                          const float *restrict m3, long tw, float *restrict s0, float *restrict s1) {
    for (long t = 0; t < tw; t++) { s0[t] = m0[t] + m1[t] + m2[t]; s1[t] = m1[t] - m2[t] - m3[t]; }
}

/* The A transform of a split output-gradient row: (g0, g0 + g1, g0 - g1, -g1). */
static inline void row_a(const float *restrict e, const float *restrict od, long tw, float *restrict h0,
                         float *restrict h1, float *restrict h2, float *restrict h3) {
    for (long t = 0; t < tw; t++) { h0[t] = e[t]; h1[t] = e[t] + od[t]; h2[t] = e[t] - od[t]; h3[t] = -od[t]; }
}

/* d0 = a, d3 = -b. */
static inline void copy_neg(const float *restrict a, const float *restrict b, long n, float *restrict d0, float *restrict d3) {
    for (long t = 0; t < n; t++) { d0[t] = a[t]; d3[t] = -b[t]; }
}

/* dst[t] = a[t] + sa * b[t] for the vertical combinations (sa = +1 or -1). */
static inline void combine(float *restrict dst, const float *restrict a, const float *restrict b, float sb, long n) {
    for (long t = 0; t < n; t++) dst[t] = a[t] + sb * b[t];
}

CLONES void tr_wino_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                          float *V, long c0, long c1, float *scratch) {
    /* scratch: E, Od (tw + 1 each) then h (4 rows x 4 components x tw): 8 (tw + 1) + 16 tw floats. */
    const long T = th * tw, CT = C * T;
    float *E = scratch, *Od = scratch + tw + 1, *h = scratch + 2 * (tw + 1);
    for (long c = c0; c < c1; c++) {
        for (long ty = 0; ty < th; ty++) {
            for (int k = 0; k < 4; k++) {
                long r = 2 * ty - pad + k;
                split_row((r >= 0 && r < H) ? x + (c * H + r) * W : 0, W, pad, tw, E, Od);
                row_bt(E, Od, tw, h + 4 * k * tw);
            }
            float *dst = V + c * T + ty * tw;
            for (int j = 0; j < 4; j++) {
                const float *r0 = h + j * tw, *r1 = h + (4 + j) * tw, *r2 = h + (8 + j) * tw, *r3 = h + (12 + j) * tw;
                combine(dst + (0 + j) * CT, r0, r2, -1.0f, tw);
                combine(dst + (4 + j) * CT, r1, r2, 1.0f, tw);
                combine(dst + (8 + j) * CT, r2, r1, -1.0f, tw);
                combine(dst + (12 + j) * CT, r1, r3, -1.0f, tw);
            }
        }
    }
}

CLONES void tr_wino_filter(const float *restrict w, long O, long C, float *restrict U, long lo, long hi) {
    const long OC = O * C;
    for (long oc = lo; oc < hi; oc++) {
        const float *k = w + oc * 9;
        float t[4][3];
        for (int j = 0; j < 3; j++) {
            float k0 = k[j], k1 = k[3 + j], k2 = k[6 + j];
            t[0][j] = k0; t[1][j] = 0.5f * (k0 + k1 + k2); t[2][j] = 0.5f * (k0 - k1 + k2); t[3][j] = k2;
        }
        for (int i = 0; i < 4; i++) {
            float a = t[i][0], b = t[i][1], d = t[i][2];
            U[(4 * i + 0) * OC + oc] = a;
            U[(4 * i + 1) * OC + oc] = 0.5f * (a + b + d);
            U[(4 * i + 2) * OC + oc] = 0.5f * (a - b + d);
            U[(4 * i + 3) * OC + oc] = d;
        }
    }
}

CLONES void tr_wino_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                           int accumulate, long o0, long o1, float *scratch) {
    /* scratch: s (2 x 4 x tw) then two output rows (2 tw each): 12 tw floats. */
    const long T = th * tw, OT = O * T;
    float *s = scratch, *r0 = scratch + 8 * tw, *r1 = r0 + 2 * tw;
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * T + ty * tw;
            for (int j = 0; j < 4; j++)
                col_at(m + j * OT, m + (4 + j) * OT, m + (8 + j) * OT, m + (12 + j) * OT, tw, s + j * tw, s + (4 + j) * tw);
            for (int a = 0; a < 2; a++) {
                const float *q0 = s + 4 * a * tw;
                row_at(q0, q0 + tw, q0 + 2 * tw, q0 + 3 * tw, tw, a ? r1 : r0);
            }
            for (int a = 0; a < 2; a++) {
                long r = 2 * ty + a;
                if (r >= oh) break;
                float *restrict dst = y + (o * oh + r) * ow;
                const float *restrict src = a ? r1 : r0;
                if (accumulate) { for (long v = 0; v < ow; v++) dst[v] += src[v]; }
                else { for (long v = 0; v < ow; v++) dst[v] = src[v]; }
            }
        }
    }
}

CLONES void tr_wino_gout(const float *g, long O, long oh, long ow, long th, long tw,
                         float *Gt, long o0, long o1, float *scratch) {
    /* scratch: E, Od (tw + 1 each) then h (2 rows x 4 components x tw). */
    const long T = th * tw, OT = O * T;
    float *E = scratch, *Od = scratch + tw + 1, *h = scratch + 2 * (tw + 1);
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            for (int k = 0; k < 2; k++) {
                long r = 2 * ty + k;
                split_row(r < oh ? g + (o * oh + r) * ow : 0, ow, 0, tw, E, Od);
                float *h0 = h + 4 * k * tw;
                row_a(E, Od, tw, h0, h0 + tw, h0 + 2 * tw, h0 + 3 * tw);
            }
            float *dst = Gt + o * T + ty * tw;
            for (int j = 0; j < 4; j++) {
                const float *a = h + j * tw, *b = h + (4 + j) * tw;
                copy_neg(a, b, tw, dst + j * OT, dst + (12 + j) * OT);
                combine(dst + (4 + j) * OT, a, b, 1.0f, tw);
                combine(dst + (8 + j) * OT, a, b, -1.0f, tw);
            }
        }
    }
}

CLONES void tr_wino_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long OC = O * C;
    for (long oc = lo; oc < hi; oc++) {
        float t[3][4];
        for (int j = 0; j < 4; j++) {
            float w0 = Wh[j * OC + oc], w1 = Wh[(4 + j) * OC + oc], w2 = Wh[(8 + j) * OC + oc], w3 = Wh[(12 + j) * OC + oc];
            t[0][j] = w0 + 0.5f * (w1 + w2); t[1][j] = 0.5f * (w1 - w2); t[2][j] = 0.5f * (w1 + w2) + w3;
        }
        float *d = dw + oc * 9;
        for (int a = 0; a < 3; a++) {
            float v0 = t[a][0], v1 = t[a][1], v2 = t[a][2], v3 = t[a][3];
            float out[3] = { v0 + 0.5f * (v1 + v2), 0.5f * (v1 - v2), 0.5f * (v1 + v2) + v3 };
            for (int b = 0; b < 3; b++) d[3 * a + b] = accumulate ? d[3 * a + b] + out[b] : out[b];
        }
    }
}

/* ---- 4x4 stride-2 padding-1 unfolding ----
 * Output column xo of kernel column kj reads input column 2 xo - 1 + kj: with the row split
 * into even E[m] = row[2m] and odd Od[m] = row[2m + 1] columns, kj = 0, 1, 2, 3 read
 * Od[xo - 1], E[xo], Od[xo], E[xo + 1]. */

static inline void deinterleave(const float *restrict row, long n, float *restrict E, float *restrict Od) {
    for (long m = 0; m < n; m++) { E[m] = row[2 * m]; Od[m] = row[2 * m + 1]; }
}

CLONES void tr_im2col_k4s2p1(const float *x, long H, long W, long oh, long ow, float *cols, long ld,
                             long y0, long y1, long c0, long c1, float *scratch) {
    float *E = scratch, *Od = scratch + ow + 2;
    const long pairs = W / 2;   /* whole (even, odd) column pairs */
    for (long c = c0; c < c1; c++) {
        for (long ki = 0; ki < 4; ki++) {
            float *d0 = cols + ((c * 4 + ki) * 4) * ld, *d1 = d0 + ld, *d2 = d1 + ld, *d3 = d2 + ld;
            for (long y = y0; y < y1; y++) {
                const long iy = 2 * y - 1 + ki, off = (y - y0) * ow;
                if (iy < 0 || iy >= H) {
                    for (long v = 0; v < ow; v++) { d0[off + v] = 0; d1[off + v] = 0; d2[off + v] = 0; d3[off + v] = 0; }
                    continue;
                }
                const float *row = x + (c * H + iy) * W;
                long n = pairs < ow + 1 ? pairs : ow + 1;
                deinterleave(row, n, E, Od);
                for (long m = n; m <= ow; m++) {
                    E[m] = 2 * m < W ? row[2 * m] : 0.0f;
                    Od[m] = 2 * m + 1 < W ? row[2 * m + 1] : 0.0f;
                }
                d0[off] = 0;
                for (long v = 1; v < ow; v++) d0[off + v] = Od[v - 1];
                for (long v = 0; v < ow; v++) { d1[off + v] = E[v]; d2[off + v] = Od[v]; d3[off + v] = E[v + 1]; }
            }
        }
    }
}

/* Even and odd output columns from the four kernel columns of one column-matrix row set. */
static inline void fold_row(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                            const float *restrict r3, long ow, float *restrict E, float *restrict Od) {
    /* E[m] = r1[m] + r3[m - 1], Od[m] = r2[m] + r0[m + 1], m < ow (out-of-range terms 0) */
    E[0] = r1[0];
    for (long m = 1; m < ow; m++) E[m] = r1[m] + r3[m - 1];
    E[ow] = r3[ow - 1];
    for (long m = 0; m + 1 < ow; m++) Od[m] = r2[m] + r0[m + 1];
    Od[ow - 1] = r2[ow - 1];
}

static inline void interleave_add(float *restrict row, const float *restrict E, const float *restrict Od, long n) {
    for (long m = 0; m < n; m++) { row[2 * m] += E[m]; row[2 * m + 1] += Od[m]; }
}

CLONES void tr_col2im_k4s2p1(const float *cols, long ld, long H, long W, long oh, long ow, float *x,
                             long c0, long c1, float *scratch) {
    float *E = scratch, *Od = scratch + ow + 2;
    for (long c = c0; c < c1; c++) {
        for (long ki = 0; ki < 4; ki++) {
            const float *s0 = cols + ((c * 4 + ki) * 4) * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
            for (long y = 0; y < oh; y++) {
                const long iy = 2 * y - 1 + ki;
                if (iy < 0 || iy >= H) continue;
                const long off = y * ow;
                fold_row(s0 + off, s1 + off, s2 + off, s3 + off, ow, E, Od);
                float *row = x + (c * H + iy) * W;
                /* row[2m] += E[m] (2m < W), row[2m + 1] += Od[m] (2m + 1 < W, m < ow) */
                long pairs = W / 2 < ow ? W / 2 : ow;
                interleave_add(row, E, Od, pairs);
                for (long m = pairs; 2 * m < W && m <= ow; m++) {
                    row[2 * m] += E[m];
                    if (2 * m + 1 < W && m < ow) row[2 * m + 1] += Od[m];
                }
            }
        }
    }
}

/* ---- few-column products, column-invariant ---- */

#define FEW_TILE(IT, NV)                                                                    \
    do {                                                                                    \
        v16 acc[IT][NV];                                                                    \
        for (int a = 0; a < IT; a++)                                                        \
            for (int v = 0; v < NV; v++) acc[a][v] = SPLAT(0);                              \
        for (long k = 0; k < K; k++) {                                                      \
            const float *brow = B + k * ldb + j;                                            \
            v16 bv[NV];                                                                     \
            for (int v = 0; v < NV; v++) bv[v] = LD(brow + 16 * v);                         \
            for (int a = 0; a < IT; a++) {                                                  \
                v16 av = SPLAT(transA ? A[k * lda + i + a] : A[(i + a) * lda + k]);         \
                for (int v = 0; v < NV; v++) acc[a][v] += av * bv[v];                       \
            }                                                                               \
        }                                                                                   \
        for (int a = 0; a < IT; a++)                                                        \
            for (int v = 0; v < NV; v++) *(v16 *)(C + (i + a) * ldc + j + 16 * v) = acc[a][v]; \
    } while (0)

#define FEW_ROWS(NV)                                                                        \
    do {                                                                                    \
        long i = i0;                                                                        \
        for (; i + 4 <= i1; i += 4) FEW_TILE(4, NV);                                        \
        for (; i < i1; i++) FEW_TILE(1, NV);                                                \
    } while (0)

CLONES void tr_gemm_fewcols(const float *A, long lda, int transA, const float *B, long ldb, float *C, long ldc,
                            long n, long K, long i0, long i1) {
    for (long j = 0; j < n; j += 64) {
        long nv = (n - j + 15) / 16;
        if (nv >= 4) FEW_ROWS(4);
        else if (nv == 3) FEW_ROWS(3);
        else if (nv == 2) FEW_ROWS(2);
        else FEW_ROWS(1);
    }
}
