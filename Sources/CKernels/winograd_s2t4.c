#include "winograd_s2t4.h"
#include "vec.h"
#include "phase_images.h"
#include <stdlib.h>
#include <string.h>

/* F(4x4, 2x2) over phase images (matrices in winograd_s2t4.h). As in winograd_s2.c, the loops
 * over the tiles of a row are contiguous streams, so that the compiler vectorises them;
 * strided accesses are confined to de-interleaving and interleaving rows. Those loops read
 * 25 streams and write others that never overlap them; without being told so (TILES), the
 * vectoriser gives up on the run-time alias checks and the transforms run 3-10x slower. */
#if defined(__clang__)
#define TILES _Pragma("clang loop vectorize(assume_safety)")
#else
#define TILES
#endif

/* v = B^T d for five values. */
#define WS4_BT(d0, d1, d2, d3, d4, v0, v1, v2, v3, v4) do { \
    v0 = 2 * ((d0) - (d2)) + ((d3) - (d1)); v1 = ((d3) - (d2)) - 2 * (d1); v2 = 2 * (d1) - 3 * (d2) + (d3); \
    v3 = (d3) - (d1); v4 = 2 * ((d1) - (d3)) + ((d4) - (d2)); } while (0)

/* d = B z for five values (the adjoint of WS4_BT). */
#define WS4_B(z0, z1, z2, z3, z4, d0, d1, d2, d3, d4) do { \
    d0 = 2 * (z0); d1 = 2 * ((z2) - (z1) + (z4)) - ((z0) + (z3)); d2 = -(2 * (z0) + (z1) + 3 * (z2) + (z4)); \
    d3 = ((z0) + (z1)) + ((z2) + (z3)) - 2 * (z4); d4 = (z4); } while (0)

/* y = A^T m for five values. */
#define WS4_AT(m0, m1, m2, m3, m4, y0, y1, y2, y3) do { \
    y0 = (m0) + ((m1) + (m2)) + (m3); y1 = ((m1) - (m2)) + 2 * (m3); \
    y2 = ((m1) + (m2)) + 4 * (m3); y3 = ((m1) - (m2)) + 8 * (m3) + (m4); } while (0)

/* t = A e for four values (the adjoint of WS4_AT). */
#define WS4_A(e0, e1, e2, e3, t0, t1, t2, t3, t4) do { \
    t0 = (e0); t1 = ((e0) + (e2)) + ((e1) + (e3)); t2 = ((e0) + (e2)) - ((e1) + (e3)); \
    t3 = ((e0) + 4 * (e2)) + 2 * ((e1) + 4 * (e3)); t4 = (e3); } while (0)

/* u = G g for two taps. */
#define WS4_G(g0, g1, u0, u1, u2, u3, u4) do { \
    u0 = 0.5f * (g0); u1 = -0.5f * ((g0) + (g1)); u2 = (1.0f / 6) * ((g1) - (g0)); \
    u3 = (1.0f / 6) * (g0) + (1.0f / 3) * (g1); u4 = (g1); } while (0)

/* k = G^T h for five values. */
#define WS4_GT(h0, h1, h2, h3, h4, k0, k1) do { \
    k0 = 0.5f * ((h0) - (h1)) + (1.0f / 6) * ((h3) - (h2)); \
    k1 = (1.0f / 6) * (h2) + (1.0f / 3) * (h3) - 0.5f * (h1) + (h4); } while (0)

CLONES void tr_ws4_filter(const float *w, long O, long C, float *U, long lo, long hi) {
    const long K4 = 4 * C, plane = O * K4;
    for (long oc = lo; oc < hi; oc++) {
        const long o = oc / C, c = oc % C;
        const float *g = w + oc * 16;
        for (int p = 0; p < 2; p++) {
            for (int q = 0; q < 2; q++) {
                /* k[a][b] = w[2a+p][2b+q]; t = G k (rows), then u = t G^T (columns) */
                float t[5][2], u[5][5];
                for (int b = 0; b < 2; b++)
                    WS4_G(g[p * 4 + 2 * b + q], g[(p + 2) * 4 + 2 * b + q], t[0][b], t[1][b], t[2][b], t[3][b], t[4][b]);
                for (int a = 0; a < 5; a++) WS4_G(t[a][0], t[a][1], u[a][0], u[a][1], u[a][2], u[a][3], u[a][4]);
                float *dst = U + o * K4 + c * 4 + p * 2 + q;
                for (int a = 0; a < 5; a++)
                    for (int b = 0; b < 5; b++) dst[(a * 5 + b) * plane] = u[a][b];
            }
        }
    }
}

CLONES void tr_ws4_filter_adjoint(const float *dU, long O, long C, float *dw, int accumulate, long lo, long hi) {
    const long K4 = 4 * C, plane = O * K4;
    for (long oc = lo; oc < hi; oc++) {
        const long o = oc / C, c = oc % C;
        float *g = dw + oc * 16;
        for (int p = 0; p < 2; p++) {
            for (int q = 0; q < 2; q++) {
                const float *src = dU + o * K4 + c * 4 + p * 2 + q;
                float m[5][5], t[5][2], k[2][2];
                for (int a = 0; a < 5; a++)
                    for (int b = 0; b < 5; b++) m[a][b] = src[(a * 5 + b) * plane];
                for (int a = 0; a < 5; a++) WS4_GT(m[a][0], m[a][1], m[a][2], m[a][3], m[a][4], t[a][0], t[a][1]);
                for (int b = 0; b < 2; b++) WS4_GT(t[0][b], t[1][b], t[2][b], t[3][b], t[4][b], k[0][b], k[1][b]);
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        float *d = g + (2 * a + p) * 4 + 2 * b + q;
                        *d = accumulate ? *d + k[a][b] : k[a][b];
                    }
            }
        }
    }
}

CLONES void tr_ws4_input(const float *x, long C, long oh, long ow, float *V, long plane, long ld, long c0, long c1) {
    const long H = 2 * oh, W = 2 * ow, th = oh / 4, tw = ow / 4, L = tw + 1;
    /* S[rho][m][i] = x[8ty - 1 + rho][8i - 1 + m] (0 outside), rho 0..9, m 0..7, i 0..tw:
     * phase (p, q)'s patch of tile i is d[a][b] = S[2a+p][2b+q][i] (b = 4: S[2a+p][q][i+1]). */
    float *S = malloc(sizeof(float) * 10 * 8 * L);
    for (long c = c0; c < c1; c++) {
        const float *xc = x + c * H * W;
        for (long ty = 0; ty < th; ty++) {
            for (int rho = 0; rho < 10; rho++) {
                const long y = 8 * ty - 1 + rho;
                tr_phase_row(y < 0 || y >= H ? NULL : xc + y * W, 8, tw, S + rho * 8 * L);
            }
            for (int p = 0; p < 2; p++) {
                for (int q = 0; q < 2; q++) {
                    const float *r[5];
                    for (int a = 0; a < 5; a++) r[a] = S + (2 * a + p) * 8 * L;
                    float *v = V + (c * 4 + p * 2 + q) * ld + ty * tw;
                    TILES
                    for (long i = 0; i < tw; i++) {
                        float d[5][5], e[5][5];
                        for (int a = 0; a < 5; a++) {
                            for (int b = 0; b < 4; b++) d[a][b] = r[a][(2 * b + q) * L + i];
                            d[a][4] = r[a][q * L + i + 1];
                        }
                        for (int b = 0; b < 5; b++) WS4_BT(d[0][b], d[1][b], d[2][b], d[3][b], d[4][b], e[0][b], e[1][b], e[2][b], e[3][b], e[4][b]);
                        for (int a = 0; a < 5; a++) {
                            float o0, o1, o2, o3, o4;
                            WS4_BT(e[a][0], e[a][1], e[a][2], e[a][3], e[a][4], o0, o1, o2, o3, o4);
                            v[(a * 5 + 0) * plane + i] = o0; v[(a * 5 + 1) * plane + i] = o1; v[(a * 5 + 2) * plane + i] = o2;
                            v[(a * 5 + 3) * plane + i] = o3; v[(a * 5 + 4) * plane + i] = o4;
                        }
                    }
                }
            }
        }
    }
    free(S);
}

CLONES void tr_ws4_output(const float *M, long plane, long ld, long oh, long ow, float *y, long o0, long o1) {
    const long th = oh / 4, tw = ow / 4;
    for (long o = o0; o < o1; o++) {
        float *yo = y + o * oh * ow;
        for (long ty = 0; ty < th; ty++) {
            const float *m = M + o * ld + ty * tw;
            float *yr[4] = {yo + 4 * ty * ow, yo + (4 * ty + 1) * ow, yo + (4 * ty + 2) * ow, yo + (4 * ty + 3) * ow};
            TILES
            for (long i = 0; i < tw; i++) {
                float z[5][5], t[4][5], out[4][4];
                for (int a = 0; a < 5; a++)
                    for (int b = 0; b < 5; b++) z[a][b] = m[(a * 5 + b) * plane + i];
                for (int b = 0; b < 5; b++) WS4_AT(z[0][b], z[1][b], z[2][b], z[3][b], z[4][b], t[0][b], t[1][b], t[2][b], t[3][b]);
                for (int a = 0; a < 4; a++) WS4_AT(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], out[a][0], out[a][1], out[a][2], out[a][3]);
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) yr[a][4 * i + b] = out[a][b];
            }
        }
    }
}

CLONES void tr_ws4_gout(const float *g, long oh, long ow, float *Gt, long plane, long ld, long o0, long o1) {
    const long th = oh / 4, tw = ow / 4;
    for (long o = o0; o < o1; o++) {
        const float *go = g + o * oh * ow;
        for (long ty = 0; ty < th; ty++) {
            const float *gr[4] = {go + 4 * ty * ow, go + (4 * ty + 1) * ow, go + (4 * ty + 2) * ow, go + (4 * ty + 3) * ow};
            float *t0 = Gt + o * ld + ty * tw;
            TILES
            for (long i = 0; i < tw; i++) {
                float e[4][4], s[5][4], u[5][5];
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) e[a][b] = gr[a][4 * i + b];
                for (int b = 0; b < 4; b++) WS4_A(e[0][b], e[1][b], e[2][b], e[3][b], s[0][b], s[1][b], s[2][b], s[3][b], s[4][b]);
                for (int a = 0; a < 5; a++) WS4_A(s[a][0], s[a][1], s[a][2], s[a][3], u[a][0], u[a][1], u[a][2], u[a][3], u[a][4]);
                for (int a = 0; a < 5; a++)
                    for (int b = 0; b < 5; b++) t0[(a * 5 + b) * plane + i] = u[a][b];
            }
        }
    }
}

CLONES void tr_ws4_input_adjoint(const float *Z, long plane, long ld, long oh, long ow, float *x, long c0, long c1) {
    const long th = oh / 4, tw = ow / 4, W = 2 * ow, PW = ow + 1, PP = (oh + 1) * PW;
    /* the four phase images X_pq (oh+1, ow+1), and one tile row's 25 patch streams R[a][b][i] */
    float *ph = malloc(sizeof(float) * (4 * PP + 25 * tw));
    float *R = ph + 4 * PP;
    for (long c = c0; c < c1; c++) {
        memset(ph, 0, sizeof(float) * 4 * PP);
        for (int pq = 0; pq < 4; pq++) {
            float *X = ph + pq * PP;
            for (long ty = 0; ty < th; ty++) {
                const float *z = Z + (c * 4 + pq) * ld + ty * tw;
                TILES
                for (long i = 0; i < tw; i++) {
                    float m[5][5], s[5][5], d[5][5];
                    for (int a = 0; a < 5; a++)
                        for (int b = 0; b < 5; b++) m[a][b] = z[(a * 5 + b) * plane + i];
                    for (int b = 0; b < 5; b++) WS4_B(m[0][b], m[1][b], m[2][b], m[3][b], m[4][b], s[0][b], s[1][b], s[2][b], s[3][b], s[4][b]);
                    for (int a = 0; a < 5; a++) WS4_B(s[a][0], s[a][1], s[a][2], s[a][3], s[a][4], d[a][0], d[a][1], d[a][2], d[a][3], d[a][4]);
                    for (int a = 0; a < 5; a++)
                        for (int b = 0; b < 5; b++) R[(a * 5 + b) * tw + i] = d[a][b];
                }
                /* add the patches: tile i's column b is phase column 4i + b (b = 4 overlaps tile i+1's b = 0) */
                for (int a = 0; a < 5; a++) {
                    float *row = X + (4 * ty + a) * PW;
                    const float *r0 = R + (a * 5) * tw;
                    TILES
                    for (long i = 0; i < tw; i++)
                        for (int b = 0; b < 4; b++) row[4 * i + b] += r0[b * tw + i];
                    TILES
                    for (long i = 0; i < tw; i++) row[4 * i + 4] += r0[4 * tw + i];
                }
            }
        }
        tr_phases_to_image(ph, oh, ow, x + c * 2 * oh * W);
    }
    free(ph);
}
