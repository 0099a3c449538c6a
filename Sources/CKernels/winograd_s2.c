#include "winograd_s2.h"
#include "vec.h"
#include "phase_images.h"
#include <stdlib.h>
#include <string.h>

/* Loops over the tiles of a row are written so that the compiler vectorises them (contiguous
 * streams); strided accesses are confined to de-interleaving and interleaving a row. */

CLONES void tr_ws2_filter(const float *w, long O, long C, float *U, long lo, long hi) {
    const long K4 = 4 * C, plane = O * K4;
    for (long oc = lo; oc < hi; oc++) {
        const long o = oc / C, c = oc % C;
        const float *g = w + oc * 16;
        for (int p = 0; p < 2; p++) {
            for (int q = 0; q < 2; q++) {
                /* g[a][b] = w[2a+p][2b+q] */
                const float g00 = g[p * 4 + q], g01 = g[p * 4 + q + 2], g10 = g[(p + 2) * 4 + q], g11 = g[(p + 2) * 4 + q + 2];
                const float t[3][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g10, g11}};
                float *u = U + o * K4 + c * 4 + p * 2 + q;
                for (int a = 0; a < 3; a++) {
                    u[(a * 3 + 0) * plane] = t[a][0];
                    u[(a * 3 + 1) * plane] = t[a][0] + t[a][1];
                    u[(a * 3 + 2) * plane] = t[a][1];
                }
            }
        }
    }
}

CLONES void tr_ws2_input(const float *x, long C, long oh, long ow, float *V, long plane, long ld, long c0, long c1) {
    const long H = 2 * oh, W = 2 * ow, th = oh / 2, tw = ow / 2, L = tw + 1;
    /* D[rho][m][i] = x[4ty - 1 + rho][4i - 1 + m] (0 outside), rho 0..5, m 0..3, i 0..tw */
    float *D = malloc(sizeof(float) * 6 * 4 * L);
    for (long c = c0; c < c1; c++) {
        const float *xc = x + c * H * W;
        for (long ty = 0; ty < th; ty++) {
            for (int rho = 0; rho < 6; rho++) {
                const long y = 4 * ty - 1 + rho;
                tr_phase_row(y < 0 || y >= H ? NULL : xc + y * W, 4, tw, D + rho * 4 * L);
            }
            for (int p = 0; p < 2; p++) {
                const float *r0 = D + p * 4 * L, *r1 = D + (p + 2) * 4 * L, *r2 = D + (p + 4) * 4 * L;
                for (int q = 0; q < 2; q++) {
                    float *v = V + (c * 4 + p * 2 + q) * ld + ty * tw;
                    const long m0 = q * L, m1 = (q + 2) * L;   /* s = 0: m0[i], s = 1: m1[i], s = 2: m0[i + 1] */
                    for (long i = 0; i < tw; i++) {
                        const float a00 = r0[m0 + i] - r1[m0 + i], a01 = r0[m1 + i] - r1[m1 + i], a02 = r0[m0 + i + 1] - r1[m0 + i + 1];
                        const float a10 = r1[m0 + i], a11 = r1[m1 + i], a12 = r1[m0 + i + 1];
                        const float a20 = r2[m0 + i] - r1[m0 + i], a21 = r2[m1 + i] - r1[m1 + i], a22 = r2[m0 + i + 1] - r1[m0 + i + 1];
                        v[0 * plane + i] = a00 - a01; v[1 * plane + i] = a01; v[2 * plane + i] = a02 - a01;
                        v[3 * plane + i] = a10 - a11; v[4 * plane + i] = a11; v[5 * plane + i] = a12 - a11;
                        v[6 * plane + i] = a20 - a21; v[7 * plane + i] = a21; v[8 * plane + i] = a22 - a21;
                    }
                }
            }
        }
    }
    free(D);
}

CLONES void tr_ws2_output(const float *M, long plane, long ld, long oh, long ow, float *y, long o0, long o1) {
    const long th = oh / 2, tw = ow / 2;
    for (long o = o0; o < o1; o++) {
        float *yo = y + o * oh * ow;
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * ld + ty * tw;
            float *y0 = yo + 2 * ty * ow, *y1 = y0 + ow;
            for (long i = 0; i < tw; i++) {
                const float p00 = m[0 * plane + i] + m[3 * plane + i], p01 = m[1 * plane + i] + m[4 * plane + i],
                            p02 = m[2 * plane + i] + m[5 * plane + i];
                const float p10 = m[3 * plane + i] + m[6 * plane + i], p11 = m[4 * plane + i] + m[7 * plane + i],
                            p12 = m[5 * plane + i] + m[8 * plane + i];
                y0[2 * i] = p00 + p01; y0[2 * i + 1] = p01 + p02;
                y1[2 * i] = p10 + p11; y1[2 * i + 1] = p11 + p12;
            }
        }
    }
}

CLONES void tr_ws2_gout(const float *g, long oh, long ow, float *Gt, long plane, long ld, long o0, long o1) {
    const long th = oh / 2, tw = ow / 2;
    for (long o = o0; o < o1; o++) {
        const float *go = g + o * oh * ow;
        for (long ty = 0; ty < th; ty++) {
            const float *g0 = go + 2 * ty * ow, *g1 = g0 + ow;
            float *t = Gt + o * ld + ty * tw;
            for (long i = 0; i < tw; i++) {
                const float e0 = g0[2 * i], d0 = g0[2 * i + 1], e1 = g1[2 * i], d1 = g1[2 * i + 1];
                const float es = e0 + e1, ds = d0 + d1;   /* alpha = 1: the two rows' sum */
                t[0 * plane + i] = e0; t[1 * plane + i] = e0 + d0; t[2 * plane + i] = d0;
                t[3 * plane + i] = es; t[4 * plane + i] = es + ds; t[5 * plane + i] = ds;
                t[6 * plane + i] = e1; t[7 * plane + i] = e1 + d1; t[8 * plane + i] = d1;
            }
        }
    }
}

CLONES void tr_ws2_input_adjoint(const float *Z, long plane, long ld, long oh, long ow, float *x, long c0, long c1) {
    const long th = oh / 2, tw = ow / 2, W = 2 * ow, PW = ow + 1, PP = (oh + 1) * PW;
    /* the four phase images X_pq (oh+1, ow+1), and the tile row's three column-transformed rows */
    float *ph = malloc(sizeof(float) * (4 * PP + 9 * tw));
    float *s = ph + 4 * PP;
    for (long c = c0; c < c1; c++) {
        memset(ph, 0, sizeof(float) * 4 * PP);
        for (int pq = 0; pq < 4; pq++) {
            float *X = ph + pq * PP;
            for (long ty = 0; ty < th; ty++) {
                const float *z = Z + (c * 4 + pq) * ld + ty * tw;
                /* rows: d_0 = Z_0, d_1 = -Z_0 + Z_1 - Z_2, d_2 = Z_2 (per beta); then columns alike */
                for (long i = 0; i < tw; i++) {
                    for (int b = 0; b < 3; b++) {
                        const float z0 = z[b * plane + i], z1 = z[(3 + b) * plane + i], z2 = z[(6 + b) * plane + i];
                        s[(0 * 3 + b) * tw + i] = z0;
                        s[(1 * 3 + b) * tw + i] = z1 - z0 - z2;
                        s[(2 * 3 + b) * tw + i] = z2;
                    }
                }
                for (int r = 0; r < 3; r++) {
                    float *row = X + (2 * ty + r) * PW;
                    const float *w0 = s + (r * 3 + 0) * tw, *w1 = s + (r * 3 + 1) * tw, *w2 = s + (r * 3 + 2) * tw;
                    for (long i = 0; i < tw; i++) { row[2 * i] += w0[i]; row[2 * i + 1] += w1[i] - w0[i] - w2[i]; }
                    for (long i = 0; i < tw; i++) row[2 * i + 2] += w2[i];
                }
            }
        }
        tr_phases_to_image(ph, oh, ow, x + c * 2 * oh * W);
    }
    free(ph);
}

CLONES void tr_ws2_filter_adjoint(const float *dU, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long K4 = 4 * C, plane = O * K4;
    for (long oc = lo; oc < hi; oc++) {
        const long o = oc / C, c = oc % C;
        float *g = dw + oc * 16;
        for (int p = 0; p < 2; p++) {
            for (int q = 0; q < 2; q++) {
                const float *u = dU + o * K4 + c * 4 + p * 2 + q;
                float m[3][3];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) m[i][j] = u[(i * 3 + j) * plane];
                /* dg[a][b] = sum of m[i][j] over i in {a, a+1}, j in {b, b+1} (G^T m G) */
                const float r0[3] = {m[0][0] + m[1][0], m[0][1] + m[1][1], m[0][2] + m[1][2]};
                const float r1[3] = {m[1][0] + m[2][0], m[1][1] + m[2][1], m[1][2] + m[2][2]};
                const float d[2][2] = {{r0[0] + r0[1], r0[1] + r0[2]}, {r1[0] + r1[1], r1[1] + r1[2]}};
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        float *t = g + (2 * a + p) * 4 + 2 * b + q;
                        *t = accumulate ? *t + d[a][b] : d[a][b];
                    }
            }
        }
    }
}
