#include "direct_conv.h"
#include "vec.h"

/* Winograd F(4x4, 3x3) for stride-1 3x3 convolutions on large planes (the ResNet generator's
 * residual blocks), with the interpolation points 0, 1, -1, 2, -2 and infinity:
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * y = A^T [(G g G^T) . (B^T d B)] A is the correlation of the 6x6 patch d with the 3x3 g:
 * 36 products per channel pair for 4x4 outputs (2.25 per output, against 4 for F(2x2, 3x3)
 * and 9 for the direct sum). Same layouts as the other Winograd kernels: 36 planes
 * xi = 6i + j, tiles t = ty * tw + tx, patches from row 4ty - pad, column 4tx - pad. */

/* b = B^T d for six values (vectors over tiles or lanes). */
#define WF43_BT(d0, d1, d2, d3, d4, d5, b0, b1, b2, b3, b4, b5) do { \
    b0 = 4 * (d0) - 5 * (d2) + (d4); b1 = (d3) + (d4) - 4 * ((d1) + (d2)); b2 = 4 * ((d1) - (d2)) + (d4) - (d3); \
    b3 = 2 * ((d3) - (d1)) + (d4) - (d2); b4 = 2 * ((d1) - (d3)) + (d4) - (d2); b5 = 4 * (d1) - 5 * (d3) + (d5); } while (0)

/* t = G k for three taps. */
#define WF43_G(k0, k1, k2, t0, t1, t2, t3, t4, t5) do { \
    t0 = 0.25f * (k0); t1 = (-1.0f / 6) * ((k0) + (k1) + (k2)); t2 = (-1.0f / 6) * ((k0) - (k1) + (k2)); \
    t3 = (1.0f / 24) * (k0) + (1.0f / 12) * (k1) + (1.0f / 6) * (k2); \
    t4 = (1.0f / 24) * (k0) - (1.0f / 12) * (k1) + (1.0f / 6) * (k2); t5 = (k2); } while (0)

/* y = A^T m for six values. */
#define WF43_AT(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3) do { \
    y0 = (m0) + ((m1) + (m2)) + ((m3) + (m4)); y1 = ((m1) - (m2)) + 2 * ((m3) - (m4)); \
    y2 = ((m1) + (m2)) + 4 * ((m3) + (m4)); y3 = ((m1) - (m2)) + 8 * ((m3) - (m4)) + (m5); } while (0)

/* c = A g for four values (A = (A^T)^T, 6 x 4). */
#define WF43_A(g0, g1, g2, g3, c0, c1, c2, c3, c4, c5) do { \
    c0 = (g0); c1 = ((g0) + (g2)) + ((g1) + (g3)); c2 = ((g0) + (g2)) - ((g1) + (g3)); \
    c3 = ((g0) + 4 * (g2)) + 2 * ((g1) + 4 * (g3)); c4 = ((g0) + 4 * (g2)) - 2 * ((g1) + 4 * (g3)); c5 = (g3); } while (0)

/* k = G^T h for six values. */
#define WF43_GT(h0, h1, h2, h3, h4, h5, k0, k1, k2) do { \
    k0 = 0.25f * (h0) - (1.0f / 6) * ((h1) + (h2)) + (1.0f / 24) * ((h3) + (h4)); \
    k1 = (1.0f / 6) * ((h2) - (h1)) + (1.0f / 12) * ((h3) - (h4)); \
    k2 = (1.0f / 6) * (((h3) + (h4)) - ((h1) + (h2))) + (h5); } while (0)

/* The vertical pass of the input transform: B^T over the six rows of a tile row's horizontal
 * components h (6 rows x 6 components x tw), into the 36 planes at dst (`plane` floats apart). */
static inline void wf43_bt_rows(const float *h, long tw, float *dst, long plane) {
    for (int j = 0; j < 6; j++) {
        const float *r0 = h + j * tw, *r1 = h + (6 + j) * tw, *r2 = h + (12 + j) * tw, *r3 = h + (18 + j) * tw,
                    *r4 = h + (24 + j) * tw, *r5 = h + (30 + j) * tw;
        float *v0 = dst + j * plane, *v1 = dst + (6 + j) * plane, *v2 = dst + (12 + j) * plane, *v3 = dst + (18 + j) * plane,
              *v4 = dst + (24 + j) * plane, *v5 = dst + (30 + j) * plane;
        for (long t = 0; t < tw; t++) {
            float b0, b1, b2, b3, b4, b5;
            WF43_BT(r0[t], r1[t], r2[t], r3[t], r4[t], r5[t], b0, b1, b2, b3, b4, b5);
            v0[t] = b0; v1[t] = b1; v2[t] = b2; v3[t] = b3; v4[t] = b4; v5[t] = b5;
        }
    }
}

CLONES void tr_wf43_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                          float *V, long c0, long c1, float *scratch) {
    /* scratch: four column phases (tw + 2 each), then h (6 rows x 6 components x tw). */
    const long T = th * tw, CT = C * T;
    float *P0 = scratch, *P1 = P0 + tw + 2, *P2 = P1 + tw + 2, *P3 = P2 + tw + 2, *h = P3 + tw + 2;
    float *P[4] = {P0, P1, P2, P3};
    for (long c = c0; c < c1; c++) {
        for (long ty = 0; ty < th; ty++) {
            for (int k = 0; k < 6; k++) {
                const long r = 4 * ty - pad + k;
                const float *row = (r >= 0 && r < H) ? x + (c * H + r) * W : 0;
                for (int q = 0; q < 4; q++) {
                    float *Pq = P[q];
                    for (long m = 0; m < tw + 2; m++) {
                        const long col = 4 * m - pad + q;
                        Pq[m] = (row && col >= 0 && col < W) ? row[col] : 0.0f;
                    }
                }
                float *hk = h + 6 * k * tw;
                for (long t = 0; t < tw; t++) {
                    float b0, b1, b2, b3, b4, b5;
                    WF43_BT(P0[t], P1[t], P2[t], P3[t], P0[t + 1], P1[t + 1], b0, b1, b2, b3, b4, b5);
                    hk[t] = b0; hk[tw + t] = b1; hk[2 * tw + t] = b2; hk[3 * tw + t] = b3; hk[4 * tw + t] = b4; hk[5 * tw + t] = b5;
                }
            }
            wf43_bt_rows(h, tw, V + c * T + ty * tw, CT);
        }
    }
}

/* U = G k G^T for filters oc in [lo, hi), 16 at a time across vector lanes. */
CLONES void tr_wf43_filter(const float *restrict w, long O, long C, float *restrict U, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float tk[9][16] __attribute__((aligned(64)));   /* tk[tap][lane] */
        tr_lanes_from_taps(w, oc0, n, 9, tk[0]);
        v16 t[6][3];
        for (int l = 0; l < 3; l++)
            WF43_G(LD(tk[l]), LD(tk[3 + l]), LD(tk[6 + l]), t[0][l], t[1][l], t[2][l], t[3][l], t[4][l], t[5][l]);
        for (int a = 0; a < 6; a++) {
            v16 u[6];
            WF43_G(t[a][0], t[a][1], t[a][2], u[0], u[1], u[2], u[3], u[4], u[5]);
            for (int b = 0; b < 6; b++) {
                tr_store_lanes(U + (6 * a + b) * OC + oc0, (const float *)&u[b], n);
            }
        }
    }
}

CLONES void tr_wf43_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                           int accumulate, long o0, long o1, float *scratch) {
    /* scratch: s (4 rows x 6 components x tw), then four output rows (4 tw each): 40 tw floats. */
    const long T = th * tw, OT = O * T;
    float *s = scratch, *out = scratch + 24 * tw;
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * T + ty * tw;
            for (int j = 0; j < 6; j++) {
                const float *m0 = m + j * OT, *m1 = m + (6 + j) * OT, *m2 = m + (12 + j) * OT, *m3 = m + (18 + j) * OT,
                            *m4 = m + (24 + j) * OT, *m5 = m + (30 + j) * OT;
                float *s0 = s + j * tw, *s1 = s + (6 + j) * tw, *s2 = s + (12 + j) * tw, *s3 = s + (18 + j) * tw;
                for (long t = 0; t < tw; t++) {
                    float y0, y1, y2, y3;
                    WF43_AT(m0[t], m1[t], m2[t], m3[t], m4[t], m5[t], y0, y1, y2, y3);
                    s0[t] = y0; s1[t] = y1; s2[t] = y2; s3[t] = y3;
                }
            }
            for (int a = 0; a < 4; a++) {
                const float *q = s + 6 * a * tw;
                float *row = out + a * 4 * tw;
                for (long t = 0; t < tw; t++) {
                    float y0, y1, y2, y3;
                    WF43_AT(q[t], q[tw + t], q[2 * tw + t], q[3 * tw + t], q[4 * tw + t], q[5 * tw + t], y0, y1, y2, y3);
                    row[4 * t] = y0; row[4 * t + 1] = y1; row[4 * t + 2] = y2; row[4 * t + 3] = y3;
                }
            }
            for (int a = 0; a < 4; a++) {
                const long r = 4 * ty + a;
                if (r >= oh) break;
                float *restrict dst = y + (o * oh + r) * ow;
                const float *src = out + a * 4 * tw;
                if (accumulate) for (long i = 0; i < ow; i++) dst[i] += src[i];
                else for (long i = 0; i < ow; i++) dst[i] = src[i];
            }
        }
    }
}

CLONES void tr_wf43_gout(const float *g, long O, long oh, long ow, long th, long tw,
                         float *Gt, long o0, long o1, float *scratch) {
    /* scratch: one tile row's four column phases (4 tw), then h (4 rows x 6 components x tw):
     * 28 tw floats. */
    const long T = th * tw, OT = O * T;
    float *Q0 = scratch, *Q1 = Q0 + tw, *Q2 = Q1 + tw, *Q3 = Q2 + tw, *h = Q3 + tw;
    float *Q[4] = {Q0, Q1, Q2, Q3};
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            for (int a = 0; a < 4; a++) {
                const long r = 4 * ty + a;
                const float *row = r < oh ? g + (o * oh + r) * ow : 0;
                for (int q = 0; q < 4; q++) {
                    float *Qq = Q[q];
                    for (long t = 0; t < tw; t++) Qq[t] = (row && 4 * t + q < ow) ? row[4 * t + q] : 0.0f;
                }
                float *ha = h + 6 * a * tw;
                for (long t = 0; t < tw; t++) {
                    float c0, c1, c2, c3, c4, c5;
                    WF43_A(Q0[t], Q1[t], Q2[t], Q3[t], c0, c1, c2, c3, c4, c5);
                    ha[t] = c0; ha[tw + t] = c1; ha[2 * tw + t] = c2; ha[3 * tw + t] = c3; ha[4 * tw + t] = c4; ha[5 * tw + t] = c5;
                }
            }
            float *dst = Gt + o * T + ty * tw;
            for (int b = 0; b < 6; b++) {
                const float *r0 = h + b * tw, *r1 = h + (6 + b) * tw, *r2 = h + (12 + b) * tw, *r3 = h + (18 + b) * tw;
                float *v0 = dst + b * OT, *v1 = dst + (6 + b) * OT, *v2 = dst + (12 + b) * OT, *v3 = dst + (18 + b) * OT,
                      *v4 = dst + (24 + b) * OT, *v5 = dst + (30 + b) * OT;
                for (long t = 0; t < tw; t++) {
                    float c0, c1, c2, c3, c4, c5;
                    WF43_A(r0[t], r1[t], r2[t], r3[t], c0, c1, c2, c3, c4, c5);
                    v0[t] = c0; v1[t] = c1; v2[t] = c2; v3[t] = c3; v4[t] = c4; v5[t] = c5;
                }
            }
        }
    }
}

/* dw = G^T m G for filters oc in [lo, hi), 16 at a time across vector lanes. */
CLONES void tr_wf43_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float m[36][16] __attribute__((aligned(64)));
        tr_lanes_from_planes(Wh, OC, oc0, n, 36, m[0]);
        v16 t[3][6];   /* G^T along a: t[k][b] = sum_a G[a][k] m[a][b] */
        for (int b = 0; b < 6; b++)
            WF43_GT(LD(m[b]), LD(m[6 + b]), LD(m[12 + b]), LD(m[18 + b]), LD(m[24 + b]), LD(m[30 + b]), t[0][b], t[1][b], t[2][b]);
        float out[9][16] __attribute__((aligned(64)));   /* out[tap][lane] */
        for (int k = 0; k < 3; k++) {
            v16 r0, r1, r2;
            WF43_GT(t[k][0], t[k][1], t[k][2], t[k][3], t[k][4], t[k][5], r0, r1, r2);
            __builtin_memcpy(out[3 * k], &r0, sizeof(v16));
            __builtin_memcpy(out[3 * k + 1], &r1, sizeof(v16));
            __builtin_memcpy(out[3 * k + 2], &r2, sizeof(v16));
        }
        tr_taps_from_lanes(out[0], oc0, n, 9, accumulate, dw);
    }
}

/* Winograd F(3x3, 4x4) for stride-1 4x4 convolutions (the PatchGAN's 256 -> 512 layer), on
 * the same six points, so B^T is the one above; 36 products per 3x3 output tile (4 per
 * output, against 6.25 for F(2x2, 4x4) and 16 for the direct sum):
 *   G   = [1/4 0 0 0; -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6; 1/24 1/12 1/6 1/3; 1/24 -1/12 1/6 -1/3; 0 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 1]
 * Patches from row 3ty - pad, column 3tx - pad. */

/* t = G k for four taps. */
#define WK43_G(k0, k1, k2, k3, t0, t1, t2, t3, t4, t5) do { \
    t0 = 0.25f * (k0); t1 = (-1.0f / 6) * (((k0) + (k2)) + ((k1) + (k3))); t2 = (-1.0f / 6) * (((k0) + (k2)) - ((k1) + (k3))); \
    t3 = (1.0f / 24) * (k0) + (1.0f / 12) * (k1) + (1.0f / 6) * (k2) + (1.0f / 3) * (k3); \
    t4 = (1.0f / 24) * (k0) - (1.0f / 12) * (k1) + (1.0f / 6) * (k2) - (1.0f / 3) * (k3); t5 = (k3); } while (0)

/* y = A^T m for six values (three outputs). */
#define WK43_AT(m0, m1, m2, m3, m4, m5, y0, y1, y2) do { \
    y0 = (m0) + ((m1) + (m2)) + ((m3) + (m4)); y1 = ((m1) - (m2)) + 2 * ((m3) - (m4)); \
    y2 = ((m1) + (m2)) + 4 * ((m3) + (m4)) + (m5); } while (0)

/* c = A g for three values (A = (A^T)^T, 6 x 3). */
#define WK43_A(g0, g1, g2, c0, c1, c2, c3, c4, c5) do { \
    c0 = (g0); c1 = ((g0) + (g2)) + (g1); c2 = ((g0) + (g2)) - (g1); \
    c3 = ((g0) + 4 * (g2)) + 2 * (g1); c4 = ((g0) + 4 * (g2)) - 2 * (g1); c5 = (g2); } while (0)

/* k = G^T h for six values (four taps). */
#define WK43_GT(h0, h1, h2, h3, h4, h5, k0, k1, k2, k3) do { \
    k0 = 0.25f * (h0) - (1.0f / 6) * ((h1) + (h2)) + (1.0f / 24) * ((h3) + (h4)); \
    k1 = (1.0f / 6) * ((h2) - (h1)) + (1.0f / 12) * ((h3) - (h4)); \
    k2 = (1.0f / 6) * (((h3) + (h4)) - ((h1) + (h2))); \
    k3 = (1.0f / 6) * ((h2) - (h1)) + (1.0f / 3) * ((h3) - (h4)) + (h5); } while (0)

CLONES void tr_wk43_input(const float *x, long C, long H, long W, long pad, long th, long tw,
                          float *V, long c0, long c1, float *scratch) {
    /* scratch: three column phases (tw + 2 each), then h (6 rows x 6 components x tw). */
    const long T = th * tw, CT = C * T;
    float *P0 = scratch, *P1 = P0 + tw + 2, *P2 = P1 + tw + 2, *h = P2 + tw + 2;
    float *P[3] = {P0, P1, P2};
    for (long c = c0; c < c1; c++) {
        for (long ty = 0; ty < th; ty++) {
            for (int k = 0; k < 6; k++) {
                const long r = 3 * ty - pad + k;
                const float *row = (r >= 0 && r < H) ? x + (c * H + r) * W : 0;
                for (int q = 0; q < 3; q++) {
                    float *Pq = P[q];
                    for (long m = 0; m < tw + 1; m++) {
                        const long col = 3 * m - pad + q;
                        Pq[m] = (row && col >= 0 && col < W) ? row[col] : 0.0f;
                    }
                }
                float *hk = h + 6 * k * tw;
                for (long t = 0; t < tw; t++) {
                    float b0, b1, b2, b3, b4, b5;
                    WF43_BT(P0[t], P1[t], P2[t], P0[t + 1], P1[t + 1], P2[t + 1], b0, b1, b2, b3, b4, b5);
                    hk[t] = b0; hk[tw + t] = b1; hk[2 * tw + t] = b2; hk[3 * tw + t] = b3; hk[4 * tw + t] = b4; hk[5 * tw + t] = b5;
                }
            }
            wf43_bt_rows(h, tw, V + c * T + ty * tw, CT);
        }
    }
}

/* U = G k G^T for filters oc in [lo, hi), 16 at a time across vector lanes. */
CLONES void tr_wk43_filter(const float *restrict w, long O, long C, float *restrict U, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float tk[16][16] __attribute__((aligned(64)));   /* tk[tap][lane] */
        tr_lanes_from_taps(w, oc0, n, 16, tk[0]);
        v16 t[6][4];
        for (int l = 0; l < 4; l++)
            WK43_G(LD(tk[l]), LD(tk[4 + l]), LD(tk[8 + l]), LD(tk[12 + l]), t[0][l], t[1][l], t[2][l], t[3][l], t[4][l], t[5][l]);
        for (int a = 0; a < 6; a++) {
            v16 u[6];
            WK43_G(t[a][0], t[a][1], t[a][2], t[a][3], u[0], u[1], u[2], u[3], u[4], u[5]);
            for (int b = 0; b < 6; b++) tr_store_lanes(U + (6 * a + b) * OC + oc0, (const float *)&u[b], n);
        }
    }
}

CLONES void tr_wk43_output(const float *M, long O, long th, long tw, float *y, long oh, long ow,
                           int accumulate, long o0, long o1, float *scratch) {
    /* scratch: s (3 rows x 6 components x tw), then three output rows (3 tw each): 27 tw floats. */
    const long T = th * tw, OT = O * T;
    float *s = scratch, *out = scratch + 18 * tw;
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * T + ty * tw;
            for (int j = 0; j < 6; j++) {
                const float *m0 = m + j * OT, *m1 = m + (6 + j) * OT, *m2 = m + (12 + j) * OT, *m3 = m + (18 + j) * OT,
                            *m4 = m + (24 + j) * OT, *m5 = m + (30 + j) * OT;
                float *s0 = s + j * tw, *s1 = s + (6 + j) * tw, *s2 = s + (12 + j) * tw;
                for (long t = 0; t < tw; t++) {
                    float y0, y1, y2;
                    WK43_AT(m0[t], m1[t], m2[t], m3[t], m4[t], m5[t], y0, y1, y2);
                    s0[t] = y0; s1[t] = y1; s2[t] = y2;
                }
            }
            for (int a = 0; a < 3; a++) {
                const float *q = s + 6 * a * tw;
                float *row = out + a * 3 * tw;
                for (long t = 0; t < tw; t++) {
                    float y0, y1, y2;
                    WK43_AT(q[t], q[tw + t], q[2 * tw + t], q[3 * tw + t], q[4 * tw + t], q[5 * tw + t], y0, y1, y2);
                    row[3 * t] = y0; row[3 * t + 1] = y1; row[3 * t + 2] = y2;
                }
            }
            for (int a = 0; a < 3; a++) {
                const long r = 3 * ty + a;
                if (r >= oh) break;
                float *restrict dst = y + (o * oh + r) * ow;
                const float *src = out + a * 3 * tw;
                if (accumulate) for (long i = 0; i < ow; i++) dst[i] += src[i];
                else for (long i = 0; i < ow; i++) dst[i] = src[i];
            }
        }
    }
}

CLONES void tr_wk43_gout(const float *g, long O, long oh, long ow, long th, long tw,
                         float *Gt, long o0, long o1, float *scratch) {
    /* scratch: one tile row's three column phases (3 tw), then h (3 rows x 6 components x tw):
     * 21 tw floats. */
    const long T = th * tw, OT = O * T;
    float *Q0 = scratch, *Q1 = Q0 + tw, *Q2 = Q1 + tw, *h = Q2 + tw;
    float *Q[3] = {Q0, Q1, Q2};
    for (long o = o0; o < o1; o++) {
        for (long ty = 0; ty < th; ty++) {
            for (int a = 0; a < 3; a++) {
                const long r = 3 * ty + a;
                const float *row = r < oh ? g + (o * oh + r) * ow : 0;
                for (int q = 0; q < 3; q++) {
                    float *Qq = Q[q];
                    for (long t = 0; t < tw; t++) Qq[t] = (row && 3 * t + q < ow) ? row[3 * t + q] : 0.0f;
                }
                float *ha = h + 6 * a * tw;
                for (long t = 0; t < tw; t++) {
                    float c0, c1, c2, c3, c4, c5;
                    WK43_A(Q0[t], Q1[t], Q2[t], c0, c1, c2, c3, c4, c5);
                    ha[t] = c0; ha[tw + t] = c1; ha[2 * tw + t] = c2; ha[3 * tw + t] = c3; ha[4 * tw + t] = c4; ha[5 * tw + t] = c5;
                }
            }
            float *dst = Gt + o * T + ty * tw;
            for (int b = 0; b < 6; b++) {
                const float *r0 = h + b * tw, *r1 = h + (6 + b) * tw, *r2 = h + (12 + b) * tw;
                float *v0 = dst + b * OT, *v1 = dst + (6 + b) * OT, *v2 = dst + (12 + b) * OT, *v3 = dst + (18 + b) * OT,
                      *v4 = dst + (24 + b) * OT, *v5 = dst + (30 + b) * OT;
                for (long t = 0; t < tw; t++) {
                    float c0, c1, c2, c3, c4, c5;
                    WK43_A(r0[t], r1[t], r2[t], c0, c1, c2, c3, c4, c5);
                    v0[t] = c0; v1[t] = c1; v2[t] = c2; v3[t] = c3; v4[t] = c4; v5[t] = c5;
                }
            }
        }
    }
}

/* dw = G^T m G for filters oc in [lo, hi), 16 at a time across vector lanes. */
CLONES void tr_wk43_wgrad_output(const float *Wh, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long OC = O * C;
    for (long oc0 = lo; oc0 < hi; oc0 += 16) {
        const long n = hi - oc0 < 16 ? hi - oc0 : 16;
        float m[36][16] __attribute__((aligned(64)));
        tr_lanes_from_planes(Wh, OC, oc0, n, 36, m[0]);
        v16 t[4][6];   /* G^T along a: t[k][b] = sum_a G[a][k] m[a][b] */
        for (int b = 0; b < 6; b++)
            WK43_GT(LD(m[b]), LD(m[6 + b]), LD(m[12 + b]), LD(m[18 + b]), LD(m[24 + b]), LD(m[30 + b]), t[0][b], t[1][b], t[2][b], t[3][b]);
        float out[16][16] __attribute__((aligned(64)));   /* out[tap][lane] */
        for (int k = 0; k < 4; k++) {
            v16 r[4];
            WK43_GT(t[k][0], t[k][1], t[k][2], t[k][3], t[k][4], t[k][5], r[0], r[1], r[2], r[3]);
            for (int l = 0; l < 4; l++) __builtin_memcpy(out[4 * k + l], &r[l], sizeof(v16));
        }
        tr_taps_from_lanes(out[0], oc0, n, 16, accumulate, dw);
    }
}
