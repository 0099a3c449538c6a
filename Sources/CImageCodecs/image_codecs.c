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

static int too_large(int width, int height, int max_side, int64_t max_pixels) {
    return width <= 0 || height <= 0 || width > max_side || height > max_side ||
           (int64_t)width * (int64_t)height > max_pixels;
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
    jpeg_copy_message(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

static void jpeg_output_nothing(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg reports damaged entropy data as warnings and pads the image with gray. A
   truncated or damaged file must not become a plausible-looking image, so the warnings
   that mean "pixel data was lost" are fatal here; the others are kept as a note. */
static void jpeg_emit(j_common_ptr cinfo, int msg_level) {
    struct jpeg_ctx *ctx = (struct jpeg_ctx *)cinfo->err;
    if (msg_level >= 0) return; /* trace messages */
    switch (cinfo->err->msg_code) {
        case JWRN_JPEG_EOF:
        case JWRN_HIT_MARKER:
        case JWRN_HUFF_BAD_CODE:
        case JWRN_ARITH_BAD_CODE:
        case JWRN_MUST_RESYNC:
            jpeg_copy_message(cinfo, ctx->message);
            longjmp(ctx->jump, 1);
        default:
            break;
    }
    if (cinfo->err->num_warnings == 0 && ctx->warning) {
        jpeg_copy_message(cinfo, ctx->warning);
        if (ctx->notes) *ctx->notes |= IC_NOTE_WARNING;
    }
    cinfo->err->num_warnings++;
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

int ic_decode_jpeg(const uint8_t *data, size_t size, int max_side, int64_t max_pixels, ic_decoded *out) {
    memset(out, 0, sizeof(*out));
    struct jpeg_ctx *ctx = jpeg_ctx_new(out->message, out->warning, &out->notes);
    if (!ctx) { snprintf(out->message, IC_MESSAGE_LENGTH, "out of memory"); return IC_NO_MEMORY; }
    struct jpeg_decompress_struct *cinfo = &ctx->info.d;
    cinfo->err = &ctx->pub;
    if (setjmp(ctx->jump)) {
        if (ctx->created) jpeg_destroy_decompress(cinfo);
        free(out->pixels);
        out->pixels = NULL;
        free(ctx);
        return IC_CORRUPT;
    }
    jpeg_create_decompress(cinfo);
    ctx->created = 1;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);

    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            int o = exif_orientation(m->data, m->data_length);
            if (o) { out->orientation = o; break; }
        }
    }
    out->width = (int)cinfo->image_width;
    out->height = (int)cinfo->image_height;
    if (too_large(out->width, out->height, max_side, max_pixels)) {
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_TOO_LARGE;
    }

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
    jpeg_start_decompress(cinfo);
    if ((int)cinfo->output_width != out->width || (int)cinfo->output_height != out->height ||
        cinfo->output_components != (cmyk ? 4 : out->channels)) {
        snprintf(out->message, IC_MESSAGE_LENGTH, "unexpected output layout (%u x %u, %d components)",
                 cinfo->output_width, cinfo->output_height, cinfo->output_components);
        jpeg_destroy_decompress(cinfo);
        free(ctx);
        return IC_UNSUPPORTED;
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

int ic_decode_png(const uint8_t *data, size_t size, int max_side, int64_t max_pixels, ic_decoded *out) {
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
    png_set_read_fn(ctx->png, ctx, png_read_memory);
    png_read_info(ctx->png, ctx->info);

    png_uint_32 w = png_get_image_width(ctx->png, ctx->info), h = png_get_image_height(ctx->png, ctx->info);
    out->width = (int)w;
    out->height = (int)h;
    if (w > 0x7fffffffu || h > 0x7fffffffu || too_large((int)w, (int)h, max_side, max_pixels)) {
        png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
        free(ctx);
        return IC_TOO_LARGE;
    }
    int depth = png_get_bit_depth(ctx->png, ctx->info);
    int type = png_get_color_type(ctx->png, ctx->info);
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
    if ((channels != 1 && channels != 3) || png_get_bit_depth(ctx->png, ctx->info) != 8 ||
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
