/*
 * image_codecs.c: libjpeg / libpng with error handling that returns instead of exiting.
 *
 * Each entry point keeps its codec state in one calloc'd context (so nothing the codec
 * touches is an automatic variable of the function that calls setjmp), installs error
 * handlers that format the message and longjmp back, and frees everything on every path.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "image_codecs.h"

void ic_free(void *p) { free(p); }

/* Checks the claimed size against the limits; sets out->limit and returns nonzero when refused. */
static int check_size(int64_t width, int64_t height, const ic_limits *limits, ic_decoded *out) {
    if (width <= 0 || height <= 0 || width > limits->max_side || height > limits->max_side) {
        out->limit = IC_LIMIT_SIDE;
        return 1;
    }
    if (width * height > limits->max_pixels) {  /* both below 2^31: no overflow in 64 bits */
        out->limit = IC_LIMIT_PIXELS;
        return 1;
    }
    return 0;
}

static int check_memory(int64_t bytes, const ic_limits *limits, ic_decoded *out) {
    out->bytes_needed = bytes;
    if (bytes > limits->max_bytes) {
        out->limit = IC_LIMIT_MEMORY;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* JPEG                                                                                 */
/* ------------------------------------------------------------------------------------ */

struct jpeg_ctx {
    struct jpeg_error_mgr pub;        /* first: libjpeg casts cinfo->err to this */
    jmp_buf jump;
    char *message;                    /* IC_MESSAGE_LENGTH bytes */
    char *warning;                    /* IC_MESSAGE_LENGTH bytes, or NULL */
    int *notes;                       /* or NULL */
    /* decoding only */
    struct jpeg_progress_mgr progress;
    const ic_limits *limits;
    ic_decoded *out;
    int status;                       /* returned after a longjmp */
    int saw_eof;                      /* the data ended without an EOI marker */
    unsigned seen_components;         /* bit i: component i appeared in a scan */
    int multi_scan;                   /* jpeg_has_multiple_scans, after the header */
    int counted_scan;                 /* the last scan added to out->scan_pixels */
    union {
        struct jpeg_decompress_struct d;
        struct jpeg_compress_struct c;
    } info;
    int created;
    unsigned char *mem;               /* jpeg_mem_dest buffer */
    unsigned long mem_size;
    char scratch[JMSG_LENGTH_MAX];
};

static void jpeg_copy_message(j_common_ptr cinfo, char *dst) {
    struct jpeg_ctx *ctx = (struct jpeg_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, ctx->scratch);
    snprintf(dst, IC_MESSAGE_LENGTH, "%s", ctx->scratch);
}

static void jpeg_error_exit_jump(j_common_ptr cinfo) {
    struct jpeg_ctx *ctx = (struct jpeg_ctx *)cinfo->err;
    if (ctx->saw_eof) {
        /* libjpeg read its inserted EOI in the middle of a marker segment or a scan header. */
        (*cinfo->err->format_message)(cinfo, ctx->scratch);
        snprintf(ctx->message, IC_MESSAGE_LENGTH, "truncated: the file ends before its image data is complete (%.160s)", ctx->scratch);
    } else {
        jpeg_copy_message(cinfo, ctx->message);
    }
    longjmp(ctx->jump, 1);
}

static void jpeg_output_nothing(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg reports damaged entropy data as warnings and pads the image with gray. A
   truncated or damaged file must not become a plausible-looking image, so the warnings
   that mean "pixel data was lost" are fatal here; the others are kept as a note. The end
   of the data without an EOI marker (JWRN_JPEG_EOF: libjpeg inserts one) is fatal only
   when pixel data is missing: that shows as one of the fatal warnings, or is found after
   the input is consumed (scans missing); a file missing only its EOI decodes with
   IC_NOTE_MISSING_EOI. */
static void jpeg_emit(j_common_ptr cinfo, int msg_level) {
    struct jpeg_ctx *ctx = (struct jpeg_ctx *)cinfo->err;
    if (msg_level >= 0) return; /* trace messages */
    switch (cinfo->err->msg_code) {
        case JWRN_JPEG_EOF:
            ctx->saw_eof = 1;
            cinfo->err->num_warnings++;
            return;
        case JWRN_HIT_MARKER:
        case JWRN_HUFF_BAD_CODE:
        case JWRN_ARITH_BAD_CODE:
        case JWRN_MUST_RESYNC:
            if (ctx->saw_eof && cinfo->is_decompressor) {
                j_decompress_ptr d = (j_decompress_ptr)cinfo;
                long row = (long)d->input_iMCU_row * (long)d->max_v_samp_factor * DCTSIZE;
                if (row > (long)d->image_height) row = (long)d->image_height;
                if (d->input_scan_number > 1 || ctx->multi_scan)
                    snprintf(ctx->message, IC_MESSAGE_LENGTH,
                             "truncated: the file ends inside the pixel data of scan %d (near row %ld of %u)",
                             d->input_scan_number, row, d->image_height);
                else
                    snprintf(ctx->message, IC_MESSAGE_LENGTH,
                             "truncated: the file ends inside the pixel data (near row %ld of %u)", row, d->image_height);
            } else {
                (*cinfo->err->format_message)(cinfo, ctx->scratch);
                snprintf(ctx->message, IC_MESSAGE_LENGTH, "damaged pixel data (%.200s)", ctx->scratch);
            }
            ctx->status = IC_CORRUPT;
            longjmp(ctx->jump, 1);
        default:
            break;
    }
    if (ctx->warning && ctx->notes && !(*ctx->notes & IC_NOTE_WARNING)) {
        jpeg_copy_message(cinfo, ctx->warning);
        *ctx->notes |= IC_NOTE_WARNING;
    }
    cinfo->err->num_warnings++;
}

/* Counts the current scan (once) and its components' samples; refuses past the limits. */
static void jpeg_account_scan(struct jpeg_ctx *ctx, j_decompress_ptr d) {
    ctx->out->scans = d->input_scan_number;
    if (d->input_scan_number == ctx->counted_scan) return;
    ctx->counted_scan = d->input_scan_number;
    for (int i = 0; i < d->comps_in_scan && i < MAX_COMPS_IN_SCAN; i++) {
        jpeg_component_info *c = d->cur_comp_info[i];
        if (!c) continue;
        ctx->seen_components |= 1u << (c->component_index & 31);
        ctx->out->scan_pixels += (int64_t)c->width_in_blocks * (int64_t)c->height_in_blocks * DCTSIZE2;
    }
    if (ctx->limits->max_scans > 0 && d->input_scan_number > ctx->limits->max_scans) {
        ctx->out->limit = IC_LIMIT_SCANS;
        ctx->status = IC_TOO_LARGE;
        snprintf(ctx->message, IC_MESSAGE_LENGTH, "more than %d scans", ctx->limits->max_scans);
        longjmp(ctx->jump, 1);
    }
    if (ctx->limits->max_scan_pixels > 0 && ctx->out->scan_pixels > ctx->limits->max_scan_pixels) {
        ctx->out->limit = IC_LIMIT_SCAN_WORK;
        ctx->status = IC_TOO_LARGE;
        snprintf(ctx->message, IC_MESSAGE_LENGTH, "%d scans cover more than %lld pixels", d->input_scan_number,
                 (long long)ctx->limits->max_scan_pixels);
        longjmp(ctx->jump, 1);
    }
}

/* Called by libjpeg before each piece of input it absorbs (an iMCU row, or the markers up
   to the next scan), so a new scan is counted before its data is decoded. */
static void jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    jpeg_account_scan((struct jpeg_ctx *)cinfo->err, (j_decompress_ptr)cinfo);
}

static struct jpeg_ctx *jpeg_ctx_new(char *message, char *warning, int *notes) {
    struct jpeg_ctx *ctx = calloc(1, sizeof(struct jpeg_ctx));
    if (!ctx) return NULL;
    ctx->message = message;
    ctx->warning = warning;
    ctx->notes = notes;
    jpeg_std_error(&ctx->pub);
    ctx->pub.error_exit = jpeg_error_exit_jump;
    ctx->pub.output_message = jpeg_output_nothing;
    ctx->pub.emit_message = jpeg_emit;
    ctx->status = IC_CORRUPT;
    return ctx;
}

static uint32_t rd16(const uint8_t *p, int le) { return le ? (uint32_t)(p[0] | (p[1] << 8)) : (uint32_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24))
              : (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" payload, or 0. */
static int exif_orientation(const uint8_t *p, size_t len) {
    if (len < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0) return 0;
    const uint8_t *t = p + 6;
    size_t n = len - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 0;
    if (rd16(t + 2, le) != 42) return 0;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd < 8 || (size_t)ifd + 2 > n) return 0;
    uint32_t count = rd16(t + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
        if (e + 12 > n) break;
        if (rd16(t + e, le) == 0x0112) {
            if (rd16(t + e + 2, le) != 3 /* SHORT */ || rd32(t + e + 4, le) < 1) return 0;
            uint32_t v = rd16(t + e + 8, le);
            return (v >= 1 && v <= 8) ? (int)v : 0;
        }
    }
    return 0;
}

/* PIL's cmyk2rgb: R = (255 - K) - (255 - K) * C / 255, rounded as MULDIV255. */
static uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Estimated peak memory of a JPEG decode (after jpeg_read_header): the input, the output
   and the caller's copies, libjpeg's whole-image coefficient buffer (16-bit, 64 per block)
   when the file has several scans, and its strip buffers (a few iMCU rows per component). */
static int64_t jpeg_bytes_needed(j_decompress_ptr cinfo, size_t size, int channels, int cmyk, const ic_limits *limits) {
    int64_t w = cinfo->image_width, h = cinfo->image_height;
    int64_t need = (int64_t)size + w * h * channels * (1 + (int64_t)(limits->output_copies > 0 ? limits->output_copies : 0));
    int multi = jpeg_has_multiple_scans(cinfo);  /* valid between jpeg_read_header and the end */
    for (int ci = 0; ci < cinfo->num_components; ci++) {
        jpeg_component_info *c = &cinfo->comp_info[ci];
        int64_t hs = c->h_samp_factor > 0 ? c->h_samp_factor : 1, vs = c->v_samp_factor > 0 ? c->v_samp_factor : 1;
        int64_t bw = ((int64_t)c->width_in_blocks + hs - 1) / hs * hs;
        int64_t bh = ((int64_t)c->height_in_blocks + vs - 1) / vs * vs;
        if (multi) need += bw * bh * DCTSIZE2 * (int64_t)sizeof(JCOEF);
        need += bw * DCTSIZE * (int64_t)cinfo->max_v_samp_factor * DCTSIZE * 4;
    }
    need += w * (cmyk ? 4 : 3) * 2 + 65536;
    return need;
}

/* Whether every component (sequential) or every coefficient bit (progressive) was coded. */
static int ic_jpeg_all_coded(j_decompress_ptr cinfo, unsigned seen_components) {
    if (cinfo->progressive_mode && cinfo->coef_bits) {
        for (int ci = 0; ci < cinfo->num_components; ci++)
            for (int k = 0; k < DCTSIZE2; k++)
                if (cinfo->coef_bits[ci][k] != 0) return 0;
        return 1;
    }
    for (int ci = 0; ci < cinfo->num_components && ci < 32; ci++)
        if (!(seen_components & (1u << ci))) return 0;
    return 1;
}

int ic_decode_jpeg(const uint8_t *data, size_t size, const ic_limits *limits, ic_decoded *out) {
    memset(out, 0, sizeof(*out));
    struct jpeg_ctx *ctx = jpeg_ctx_new(out->message, out->warning, &out->notes);
    if (!ctx) { snprintf(out->message, IC_MESSAGE_LENGTH, "out of memory"); return IC_NO_MEMORY; }
    ctx->limits = limits;
    ctx->out = out;
    struct jpeg_decompress_struct *cinfo = &ctx->info.d;
    cinfo->err = &ctx->pub;
    if (setjmp(ctx->jump)) {
        int status = ctx->status;
        if (ctx->created) jpeg_destroy_decompress(cinfo);
        free(out->pixels);
        out->pixels = NULL;
        free(ctx);
        return status;
    }
    jpeg_create_decompress(cinfo);
    ctx->created = 1;
    /* Virtual arrays beyond this would need a backing store, which is an error: a second
       guard behind the estimate below. */
    if (limits->max_bytes > 0 && limits->max_bytes < (int64_t)0x7fffffff) cinfo->mem->max_memory_to_use = (long)limits->max_bytes;
    ctx->progress.progress_monitor = jpeg_progress;
    cinfo->progress = &ctx->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);
    ctx->multi_scan = jpeg_has_multiple_scans(cinfo);

    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            int o = exif_orientation(m->data, m->data_length);
            if (o) { out->orientation = o; break; }
        }
    }
    out->width = (int)cinfo->image_width;
    out->height = (int)cinfo->image_height;
    if (check_size(cinfo->image_width, cinfo->image_height, limits, out)) {
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_TOO_LARGE;
    }
    jpeg_account_scan(ctx, cinfo);  /* the first scan, whose header jpeg_read_header read */

    int cmyk = 0, inverted = 0;
    switch (cinfo->jpeg_color_space) {
        case JCS_GRAYSCALE:
            cinfo->out_color_space = JCS_GRAYSCALE;
            out->channels = 1;
            break;
        case JCS_CMYK:
        case JCS_YCCK:
            /* libjpeg converts YCCK to CMYK; we convert CMYK to RGB as PIL does (no ICC). */
            cinfo->out_color_space = JCS_CMYK;
            out->notes |= (cinfo->jpeg_color_space == JCS_YCCK) ? IC_NOTE_YCCK_CONVERTED : IC_NOTE_CMYK_CONVERTED;
            out->channels = 3;
            cmyk = 1;
            /* Adobe (Photoshop) CMYK JPEGs store inverted values, as nearly all CMYK JPEGs do. */
            inverted = cinfo->saw_Adobe_marker;
            break;
        default:
            cinfo->out_color_space = JCS_RGB;
            out->channels = 3;
            break;
    }
    if (check_memory(jpeg_bytes_needed(cinfo, size, out->channels, cmyk, limits), limits, out)) {
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_TOO_LARGE;
    }
    /* Multi-scan files are absorbed whole here (the progress monitor counts their scans). */
    jpeg_start_decompress(cinfo);
    if ((int)cinfo->output_width != out->width || (int)cinfo->output_height != out->height ||
        cinfo->output_components != (cmyk ? 4 : out->channels)) {
        snprintf(out->message, IC_MESSAGE_LENGTH, "unexpected output layout (%u x %u, %d components)",
                 cinfo->output_width, cinfo->output_height, cinfo->output_components);
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_UNSUPPORTED;
    }
    if (ctx->saw_eof && ctx->multi_scan && !ic_jpeg_all_coded(cinfo, ctx->seen_components)) {
        snprintf(out->message, IC_MESSAGE_LENGTH,
                 "truncated: the file ends after scan %d of a %s JPEG; the later scans are missing",
                 cinfo->input_scan_number, cinfo->progressive_mode ? "progressive" : "multi-scan");
        longjmp(ctx->jump, 1);
    }
    size_t stride = (size_t)out->width * (size_t)out->channels;
    out->pixels = malloc(stride * (size_t)out->height);
    if (!out->pixels) {
        snprintf(out->message, IC_MESSAGE_LENGTH, "out of memory for %d x %d pixels", out->width, out->height);
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_NO_MEMORY;
    }
    JSAMPARRAY cmyk_row = NULL;
    if (cmyk) cmyk_row = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE, cinfo->output_width * 4, 1);
    while (cinfo->output_scanline < cinfo->output_height) {
        size_t y = cinfo->output_scanline;
        JSAMPROW row = cmyk ? cmyk_row[0] : (JSAMPROW)(out->pixels + y * stride);
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
            snprintf(out->message, IC_MESSAGE_LENGTH, "decoder stopped at scanline %zu of %d", y, out->height);
            longjmp(ctx->jump, 1);
        }
        if (cmyk) {
            uint8_t *dst = out->pixels + y * stride;
            for (int x = 0; x < out->width; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                if (inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
                unsigned nk = 255 - k;
                dst[3 * x + 0] = (uint8_t)(nk - muldiv255(c, nk));
                dst[3 * x + 1] = (uint8_t)(nk - muldiv255(m, nk));
                dst[3 * x + 2] = (uint8_t)(nk - muldiv255(yy, nk));
            }
        }
    }
    jpeg_finish_decompress(cinfo);
    if (ctx->saw_eof) out->notes |= IC_NOTE_MISSING_EOI;
    out->scans = cinfo->input_scan_number;
    jpeg_destroy_decompress(cinfo);
    free(ctx);
    return IC_OK;
}

int ic_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                   uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) || width > JPEG_MAX_DIMENSION ||
        height > JPEG_MAX_DIMENSION) {
        snprintf(message, IC_MESSAGE_LENGTH, "JPEG cannot hold a %d x %d image with %d channels", width, height, channels);
        return IC_UNSUPPORTED;
    }
    struct jpeg_ctx *ctx = jpeg_ctx_new(message, NULL, NULL);
    if (!ctx) { snprintf(message, IC_MESSAGE_LENGTH, "out of memory"); return IC_NO_MEMORY; }
    struct jpeg_compress_struct *cinfo = &ctx->info.c;
    cinfo->err = &ctx->pub;
    if (setjmp(ctx->jump)) {
        if (ctx->created) jpeg_destroy_compress(cinfo);
        free(ctx->mem);
        free(ctx);
        return IC_CORRUPT;
    }
    jpeg_create_compress(cinfo);
    ctx->created = 1;
    jpeg_mem_dest(cinfo, &ctx->mem, &ctx->mem_size);
    cinfo->image_width = (JDIMENSION)width;
    cinfo->image_height = (JDIMENSION)height;
    cinfo->input_components = channels;
    cinfo->in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo->next_scanline * stride);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    jpeg_destroy_compress(cinfo);
    *out = ctx->mem;
    *out_size = (size_t)ctx->mem_size;
    free(ctx);
    return IC_OK;
}

/* ------------------------------------------------------------------------------------ */
/* PNG                                                                                  */
/* ------------------------------------------------------------------------------------ */

struct png_ctx {
    jmp_buf jump;
    char *message;
    char *warning;
    int *notes;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    int status;                       /* returned after a longjmp */
    /* reading */
    const uint8_t *data;
    size_t size, pos;
    /* writing */
    uint8_t *buf;
    size_t len, cap;
};

static void png_error_jump(png_structp png, png_const_charp msg) {
    struct png_ctx *ctx = (struct png_ctx *)png_get_error_ptr(png);
    snprintf(ctx->message, IC_MESSAGE_LENGTH, "%s", msg);
    longjmp(ctx->jump, 1);
}

static void png_warning_keep(png_structp png, png_const_charp msg) {
    struct png_ctx *ctx = (struct png_ctx *)png_get_error_ptr(png);
    if (ctx->warning && ctx->notes && !(*ctx->notes & IC_NOTE_WARNING)) {
        snprintf(ctx->warning, IC_MESSAGE_LENGTH, "%s", msg);
        *ctx->notes |= IC_NOTE_WARNING;
    }
}

static void png_read_memory(png_structp png, png_bytep dst, png_size_t n) {
    struct png_ctx *ctx = (struct png_ctx *)png_get_io_ptr(png);
    if (n > ctx->size - ctx->pos) png_error(png, "unexpected end of file (truncated?)");
    memcpy(dst, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

/* Chunks we never use whose payloads are variable-length or compressed: skipped unread. */
static const png_byte png_ignored_chunks[] = {
    'i', 'C', 'C', 'P', 0, 'i', 'T', 'X', 't', 0, 't', 'E', 'X', 't', 0, 'z', 'T', 'X', 't', 0,
    's', 'P', 'L', 'T', 0, 'e', 'X', 'I', 'f', 0,
};

int ic_decode_png(const uint8_t *data, size_t size, const ic_limits *limits, ic_decoded *out) {
    memset(out, 0, sizeof(*out));
    struct png_ctx *ctx = calloc(1, sizeof(struct png_ctx));
    if (!ctx) { snprintf(out->message, IC_MESSAGE_LENGTH, "out of memory"); return IC_NO_MEMORY; }
    ctx->message = out->message;
    ctx->warning = out->warning;
    ctx->notes = &out->notes;
    ctx->data = data;
    ctx->size = size;
    ctx->status = IC_CORRUPT;
    if (setjmp(ctx->jump)) {
        int status = ctx->status;
        png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
        free(ctx->rows);
        free(out->pixels);
        out->pixels = NULL;
        free(ctx);
        return status;
    }
    ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, png_error_jump, png_warning_keep);
    if (!ctx->png) { snprintf(out->message, IC_MESSAGE_LENGTH, "cannot create a libpng reader"); free(ctx); return IC_NO_MEMORY; }
    ctx->info = png_create_info_struct(ctx->png);
    if (!ctx->info) png_error(ctx->png, "cannot create a libpng info struct");
    /* Our limits decide (with a message naming the claimed size), not libpng's 1000000 a side. */
    png_set_user_limits(ctx->png, 0x7fffffffu, 0x7fffffffu);
    png_set_keep_unknown_chunks(ctx->png, PNG_HANDLE_CHUNK_NEVER, png_ignored_chunks,
                                (int)(sizeof(png_ignored_chunks) / 5));
    png_set_read_fn(ctx->png, ctx, png_read_memory);
    png_read_info(ctx->png, ctx->info);

    png_uint_32 w = png_get_image_width(ctx->png, ctx->info), h = png_get_image_height(ctx->png, ctx->info);
    out->width = w > 0x7fffffffu ? 0x7fffffff : (int)w;
    out->height = h > 0x7fffffffu ? 0x7fffffff : (int)h;
    if (check_size(w, h, limits, out)) {
        png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
        free(ctx);
        return IC_TOO_LARGE;
    }
    int depth = png_get_bit_depth(ctx->png, ctx->info);
    int type = png_get_color_type(ctx->png, ctx->info);
    /* Output: gray (with or without alpha) -> 1 channel, everything else -> 3. libpng's two
       row buffers hold up to 8 bytes a pixel (16-bit RGBA) before our transforms. */
    int64_t out_channels = (type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    int64_t copies = limits->output_copies > 0 ? limits->output_copies : 0;
    int64_t need = (int64_t)size + (int64_t)w * h * out_channels * (1 + copies) + (int64_t)h * (int64_t)sizeof(png_bytep) +
                   2 * ((int64_t)w * 8 + 64) + 65536;
    if (check_memory(need, limits, out)) {
        png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
        free(ctx);
        return IC_TOO_LARGE;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(ctx->png);
        out->notes |= IC_NOTE_PALETTE_EXPANDED;
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(ctx->png);
        out->notes |= IC_NOTE_LOW_BIT_DEPTH;
    }
    int alpha = (type & PNG_COLOR_MASK_ALPHA) != 0;
    if (png_get_valid(ctx->png, ctx->info, PNG_INFO_tRNS)) {
        png_set_tRNS_to_alpha(ctx->png);
        alpha = 1;
    }
    if (alpha) {
        png_set_strip_alpha(ctx->png);
        out->notes |= IC_NOTE_ALPHA_DROPPED;
    }
    if (depth == 16) {
        png_set_scale_16(ctx->png);
        out->notes |= IC_NOTE_16BIT_SCALED;
    }
    if (png_get_interlace_type(ctx->png, ctx->info) != PNG_INTERLACE_NONE) png_set_interlace_handling(ctx->png);
    png_read_update_info(ctx->png, ctx->info);
    int channels = png_get_channels(ctx->png, ctx->info);
    size_t stride = (size_t)w * (size_t)channels;
    if (channels != out_channels || png_get_bit_depth(ctx->png, ctx->info) != 8 ||
        png_get_rowbytes(ctx->png, ctx->info) != stride) {
        ctx->status = IC_UNSUPPORTED;
        png_error(ctx->png, "cannot reduce this PNG to 8-bit gray or RGB");
    }
    out->channels = channels;
    out->pixels = malloc(stride * (size_t)h);
    ctx->rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!out->pixels || !ctx->rows) {
        ctx->status = IC_NO_MEMORY;
        png_error(ctx->png, "out of memory");
    }
    for (size_t y = 0; y < h; y++) ctx->rows[y] = out->pixels + y * stride;
    png_read_image(ctx->png, ctx->rows);
    png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
    free(ctx->rows);
    free(ctx);
    return IC_OK;
}

static void png_write_memory(png_structp png, png_bytep src, png_size_t n) {
    struct png_ctx *ctx = (struct png_ctx *)png_get_io_ptr(png);
    if (n > ctx->cap - ctx->len) {
        size_t cap = ctx->cap ? ctx->cap : 4096;
        while (cap - ctx->len < n) cap *= 2;
        uint8_t *b = realloc(ctx->buf, cap);
        if (!b) png_error(png, "out of memory");
        ctx->buf = b;
        ctx->cap = cap;
    }
    memcpy(ctx->buf + ctx->len, src, n);
    ctx->len += n;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int ic_encode_png(const uint8_t *pixels, int width, int height, int channels,
                  uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
        snprintf(message, IC_MESSAGE_LENGTH, "PNG cannot hold a %d x %d image with %d channels", width, height, channels);
        return IC_UNSUPPORTED;
    }
    struct png_ctx *ctx = calloc(1, sizeof(struct png_ctx));
    if (!ctx) { snprintf(message, IC_MESSAGE_LENGTH, "out of memory"); return IC_NO_MEMORY; }
    ctx->message = message;
    if (setjmp(ctx->jump)) {
        png_destroy_write_struct(&ctx->png, &ctx->info);
        free(ctx->buf);
        free(ctx);
        return IC_CORRUPT;
    }
    ctx->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, png_error_jump, png_warning_keep);
    if (!ctx->png) { snprintf(message, IC_MESSAGE_LENGTH, "cannot create a libpng writer"); free(ctx); return IC_NO_MEMORY; }
    ctx->info = png_create_info_struct(ctx->png);
    if (!ctx->info) png_error(ctx->png, "cannot create a libpng info struct");
    png_set_write_fn(ctx->png, ctx, png_write_memory, png_flush_nothing);
    png_set_IHDR(ctx->png, ctx->info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(ctx->png, ctx->info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(ctx->png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(ctx->png, NULL);
    png_destroy_write_struct(&ctx->png, &ctx->info);
    *out = ctx->buf;
    *out_size = ctx->len;
    free(ctx);
    return IC_OK;
}
