#include "direct_conv.h"
#include "vec.h"

/* Winograd F(2x2, 4x4) for stride-1 4x4 convolutions (PatchGAN's 256 -> 512 layer), with
 * the interpolation points 0, 1, -1, 2 and infinity:
 *   B^T = [2 -1 -2 1 0; 0 -2 -1 1 0; 0 2 -3 1 0; 0 -1 0 1 0; 0 2 -1 -2 1]
 *   G   = [1/2 0 0 0; -1/2 -1/2 -1/2 -1/2; -1/6 1/6 -1/6 1/6; 1/6 1/3 2/3 4/3; 0 0 0 1]
 *   A^T = [1 1 1 1 0; 0 1 -1 2 1]
 * y = A^T [(G g G^T) . (B^T d B)] A is the correlation of the 5x5 patch d with the 4x4 g
 * (25 products per channel pair for 2x2 outputs instead of 64). Same layouts as the 3x3
 * kernels: 25 planes xi = 5i + j. */

/* b[0..4] = B^T d for the five values d0..d4 (vectors over tiles). */
#define WK4_BT(d0, d1, d2, d3, d4, b0, b1, b2, b3, b4) do { \
    b0 = 2 * (d0) - (d1) - 2 * (d2) + (d3); b1 = -2 * (d1) - (d2) + (d3); b2 = 2 * (d1) - 3 * (d2) + (d3); \
    b3 = (d3) - (d1); b4 = 2 * (d1) - (d2) - 2 * (d3) + (d4); } while (0)

CLONES void tr_wk4_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                         float *V, long c0, long c1, float *scratch) {
    /* scratch: E, Od (tw + 2 each), h (5 rows x 5 components x tw): 25 tw + 2 (tw + 2) floats. */
    const long T = th * tw, CT = C * T;
    float *E = scratch, *Od = scratch + tw + 2, *h = scratch + 2 * (tw + 2);
    for (long c = c0; c < c1; c++) {
        for (long ty = 0; ty < th; ty++) {
            for (int k = 0; k < 5; k++) {
                const long r = 2 * ty - pad + k;
                const float *row = (r >= 0 && r < H) ? x + (c * H + r) * W : 0;
                for (long m = 0; m < tw + 2; m++) {
                    const long ce = 2 * m - pad, co = ce + 1;
                    E[m] = (row && ce >= 0 && ce < W) ? row[ce] : 0.0f;
                    Od[m] = (row && co >= 0 && co < W) ? row[co] : 0.0f;
                }
                float *hk = h + 5 * k * tw;
                for (long t = 0; t < tw; t++) {
                    /* columns 2t + j: E[t], Od[t], E[t+1], Od[t+1], E[t+2] */
                    float b0, b1, b2, b3, b4;
                    WK4_BT(E[t], Od[t], E[t + 1], Od[t + 1], E[t + 2], b0, b1, b2, b3, b4);
                    hk[t] = b0; hk[tw + t] = b1; hk[2 * tw + t] = b2; hk[3 * tw + t] = b3; hk[4 * tw + t] = b4;
                }
            }
            float *dst = V + c * T + ty * tw;
            for (int j = 0; j < 5; j++) {
                const float *r0 = h + j * tw, *r1 = h + (5 + j) * tw, *r2 = h + (10 + j) * tw, *r3 = h + (15 + j) * tw,
                            *r4 = h + (20 + j) * tw;
                float *v0 = dst + j * CT, *v1 = dst + (5 + j) * CT, *v2 = dst + (10 + j) * CT, *v3 = dst + (15 + j) * CT,
                      *v4 = dst + (20 + j) * CT;
                for (long t = 0; t < tw; t++) {
                    float b0, b1, b2, b3, b4;
                    WK4_BT(r0[t], r1[t], r2[t], r3[t], r4[t], b0, b1, b2, b3, b4);
                    v0[t] = b0; v1[t] = b1; v2[t] = b2; v3[t] = b3; v4[t] = b4;
                }
            }
        }
    }
}


/* t[a] = sum_q G[a][q] k[q] for the five rows of G (vectors over 16 filters). */
#define WK4_G_APPLY(k0, k1, k2, k3, t0, t1, t2, t3, t4) do { \
    t0 = 0.5f * (k0); t1 = -0.5f * ((k0) + (k1) + (k2) + (k3)); t2 = (1.0f / 6) * ((k1) + (k3) - (k0) - (k2)); \
    t3 = (1.0f / 6) * (k0) + (1.0f / 3) * (k1) + (2.0f / 3) * (k2) + (4.0f / 3) * (k3); t4 = (k3); } while (0)

/* U = G k G^T for filters oc in [lo, hi): 16 at a time across vector lanes (taps gathered into
 * a transposed block), the rest one lane at a time through the same code. */
CLONES void tr_wk4_filter(const float *restrict w, long O, long C, float *restrict U, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float tk[16][16] __attribute__((aligned(64)));   /* tk[tap][lane] */
        tr_lanes_from_taps(w, oc0, n, 16, tk[0]);
        v16 t[5][4];
        for (int l = 0; l < 4; l++)
            WK4_G_APPLY(LD(tk[l]), LD(tk[4 + l]), LD(tk[8 + l]), LD(tk[12 + l]), t[0][l], t[1][l], t[2][l], t[3][l], t[4][l]);
        for (int a = 0; a < 5; a++) {
            v16 u[5];
            WK4_G_APPLY(t[a][0], t[a][1], t[a][2], t[a][3], u[0], u[1], u[2], u[3], u[4]);
            for (int b = 0; b < 5; b++) {
                tr_store_lanes(U + (5 * a + b) * OC + oc0, (const float *)&u[b], n);
            }
        }
    }
}

CLONES void tr_wk4_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                          int accumulate, long o0, long o1, float *scratch) {
    /* scratch: s (2 rows x 5 components x tw) then one output row pair (2 x 2 tw): 14 tw floats. */
    const long T = th * tw, OT = O * T;
    float *s = scratch, *out = scratch + 10 * tw;
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * T + ty * tw;
            for (int j = 0; j < 5; j++) {
                const float *m0 = m + j * OT, *m1 = m + (5 + j) * OT, *m2 = m + (10 + j) * OT, *m3 = m + (15 + j) * OT,
                            *m4 = m + (20 + j) * OT;
                float *s0 = s + j * tw, *s1 = s + (5 + j) * tw;
                for (long t = 0; t < tw; t++) {
                    s0[t] = m0[t] + m1[t] + m2[t] + m3[t];
                    s1[t] = m1[t] - m2[t] + 2 * m3[t] + m4[t];
                }
            }
            for (int a = 0; a < 2; a++) {
                const float *q = s + 5 * a * tw;
                float *row = out + a * 2 * tw;
                for (long t = 0; t < tw; t++) {
                    row[2 * t] = q[t] + q[tw + t] + q[2 * tw + t] + q[3 * tw + t];
                    row[2 * t + 1] = q[tw + t] - q[2 * tw + t] + 2 * q[3 * tw + t] + q[4 * tw + t];
                }
            }
            for (int a = 0; a < 2; a++) {
                const long r = 2 * ty + a;
                if (r >= oh) break;
                float *restrict dst = y + (o * oh + r) * ow;
                const float *src = out + a * 2 * tw;
                if (accumulate) for (long i = 0; i < ow; i++) dst[i] += src[i];
                else for (long i = 0; i < ow; i++) dst[i] = src[i];
            }
        }
    }
}

CLONES void tr_wk4_gout(const float *g, long O, long oh, long ow, long th, long tw,
                        float *Gt, long o0, long o1, float *scratch) {
    /* scratch: the tile row pair split into even and odd columns, then their 5 horizontal
     * components: 4 tw + 10 tw floats. A g A^T with A's rows [1 0], [1 1], [1 -1], [1 2], [0 1]. */
    const long T = th * tw, OT = O * T;
    float *e0 = scratch, *d0 = scratch + tw, *e1 = scratch + 2 * tw, *d1 = scratch + 3 * tw, *h = scratch + 4 * tw;
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            for (int a = 0; a < 2; a++) {
                const long r = 2 * ty + a;
                const float *row = r < oh ? g + (o * oh + r) * ow : 0;
                float *e = a ? e1 : e0, *d = a ? d1 : d0;
                for (long t = 0; t < tw; t++) {
                    e[t] = (row && 2 * t < ow) ? row[2 * t] : 0.0f;
                    d[t] = (row && 2 * t + 1 < ow) ? row[2 * t + 1] : 0.0f;
                }
                float *ha = h + 5 * a * tw;
                for (long t = 0; t < tw; t++) {
                    ha[t] = e[t]; ha[tw + t] = e[t] + d[t]; ha[2 * tw + t] = e[t] - d[t]; ha[3 * tw + t] = e[t] + 2 * d[t];
                    ha[4 * tw + t] = d[t];
                }
            }
            float *dst = Gt + o * T + ty * tw;
            for (int b = 0; b < 5; b++) {
                const float *r0 = h + b * tw, *r1 = h + (5 + b) * tw;
                float *v0 = dst + b * OT, *v1 = dst + (5 + b) * OT, *v2 = dst + (10 + b) * OT, *v3 = dst + (15 + b) * OT,
                      *v4 = dst + (20 + b) * OT;
                for (long t = 0; t < tw; t++) {
                    v0[t] = r0[t]; v1[t] = r0[t] + r1[t]; v2[t] = r0[t] - r1[t]; v3[t] = r0[t] + 2 * r1[t]; v4[t] = r1[t];
                }
            }
        }
    }
}

/* dw = G^T m G for filters oc in [lo, hi), 16 at a time across vector lanes. */
CLONES void tr_wk4_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float m[25][16] __attribute__((aligned(64)));
        tr_lanes_from_planes(Wh, OC, oc0, n, 25, m[0]);
        /* G^T applied along a: t[k][b] = sum_a G[a][k] m[a][b] */
        v16 t[4][5];
        for (int b = 0; b < 5; b++) {
            const v16 m0 = LD(m[b]), m1 = LD(m[5 + b]), m2 = LD(m[10 + b]), m3 = LD(m[15 + b]), m4 = LD(m[20 + b]);
            t[0][b] = 0.5f * m0 - 0.5f * m1 - (1.0f / 6) * m2 + (1.0f / 6) * m3;
            t[1][b] = -0.5f * m1 + (1.0f / 6) * m2 + (1.0f / 3) * m3;
            t[2][b] = -0.5f * m1 - (1.0f / 6) * m2 + (2.0f / 3) * m3;
            t[3][b] = -0.5f * m1 + (1.0f / 6) * m2 + (4.0f / 3) * m3 + m4;
        }
        float out[16][16] __attribute__((aligned(64)));   /* out[tap][lane] */
        for (int k = 0; k < 4; k++) {
            const v16 q0 = t[k][0], q1 = t[k][1], q2 = t[k][2], q3 = t[k][3], q4 = t[k][4];
            const v16 r[4] = {0.5f * q0 - 0.5f * q1 - (1.0f / 6) * q2 + (1.0f / 6) * q3,
                              -0.5f * q1 + (1.0f / 6) * q2 + (1.0f / 3) * q3,
                              -0.5f * q1 - (1.0f / 6) * q2 + (2.0f / 3) * q3,
                              -0.5f * q1 + (1.0f / 6) * q2 + (4.0f / 3) * q3 + q4};
            for (int l = 0; l < 4; l++) __builtin_memcpy(out[k * 4 + l], &r[l], sizeof(v16));
        }
        tr_taps_from_lanes(out[0], oc0, n, 16, accumulate, dw);
    }
}
