#ifndef TR_PHASE_IMAGES_H
#define TR_PHASE_IMAGES_H
/* Shared by the Winograd kernels over phase images (winograd_s2.c, winograd_s2t4.c; not part
 * of the module's headers): moving rows between an image x and its phase images
 * X_pq[u][v] = x[2u+p-1][2v+q-1]. Pure copies, so the transforms' bits do not depend on them. */
#include <string.h>

/* De-interleaves one row of x (W = period * tw floats, or NULL: a row outside x) for tiles
 * whose patches start every `period` columns: s[m * L + i] = row[period * i - 1 + m] (0
 * outside the row) for m < period, i <= tw (L = tw + 1 floats per stream). */
static inline void tr_phase_row(const float *row, int period, long tw, float *s) {
    const long L = tw + 1;
    if (!row) { memset(s, 0, sizeof(float) * period * L); return; }
    s[0] = 0;   /* column -1 */
    for (long i = 1; i < L; i++) s[i] = row[period * i - 1];
    for (int m = 1; m < period; m++) {
        float *sm = s + m * L;
        for (long i = 0; i < tw; i++) sm[i] = row[period * i - 1 + m];
        sm[tw] = 0;   /* columns W .. W + period - 2 */
    }
}

/* x[c] (2oh, 2ow) from its four phase images ph[p * 2 + q] ((oh + 1) x (ow + 1) each, PP
 * floats apart): x[2u+p-1][2v+q-1] = X_pq[u][v]. */
static inline void tr_phases_to_image(const float *ph, long oh, long ow, float *xc) {
    const long W = 2 * ow, PW = ow + 1, PP = (oh + 1) * PW;
    for (long yy = 0; yy < 2 * oh; yy++) {
        const int p = (yy + 1) & 1;
        const long u = (yy + 1 - p) / 2;
        const float *x0 = ph + (p * 2 + 0) * PP + u * PW, *x1 = ph + (p * 2 + 1) * PP + u * PW;
        float *row = xc + yy * W;
        for (long v = 0; v < ow; v++) { row[2 * v] = x1[v]; row[2 * v + 1] = x0[v + 1]; }
    }
}
#endif
