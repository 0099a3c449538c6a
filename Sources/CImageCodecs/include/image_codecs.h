/*
 * image_codecs.h: a small C shim over libjpeg (libjpeg-turbo, jpeg62 API) and libpng 1.6.
 *
 * Both libraries report fatal errors by calling a function that must not return; their
 * defaults call exit() (libjpeg) or abort(). Swift cannot call setjmp, so these functions
 * install error handlers that longjmp back here and turn every failure into a status code
 * and a message. Nothing in this header depends on jpeglib.h or png.h.
 *
 * Decoded pixels are 8-bit, interleaved HWC, 1 (gray) or 3 (RGB) channels, allocated with
 * malloc; release them with ic_free.
 */
#ifndef IMAGE_CODECS_H
#define IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    IC_OK = 0,
    IC_CORRUPT = 1,      /* the codec rejected the data (message says why) */
    IC_UNSUPPORTED = 2,  /* valid data we do not handle (message says what) */
    IC_TOO_LARGE = 3,    /* width/height exceed the caller's limits; width/height are set */
    IC_NO_MEMORY = 4
};

/* Bits of ic_decoded.notes: what the decoder changed on the way to 8-bit gray/RGB. */
enum {
    IC_NOTE_ALPHA_DROPPED = 1 << 0,
    IC_NOTE_16BIT_SCALED = 1 << 1,
    IC_NOTE_PALETTE_EXPANDED = 1 << 2,
    IC_NOTE_CMYK_CONVERTED = 1 << 3,
    IC_NOTE_LOW_BIT_DEPTH = 1 << 4,  /* 1, 2 or 4-bit gray scaled to 8 bits */
    IC_NOTE_WARNING = 1 << 5,        /* ic_decoded.warning holds the codec's first warning */
    IC_NOTE_YCCK_CONVERTED = 1 << 6
};

#define IC_MESSAGE_LENGTH 256

typedef struct {
    int width;
    int height;
    int channels;          /* 1 or 3 */
    uint8_t *pixels;       /* width * height * channels bytes, or NULL on failure */
    int notes;             /* IC_NOTE_* bits */
    int orientation;       /* JPEG EXIF orientation 1...8, or 0 when absent or invalid */
    char message[IC_MESSAGE_LENGTH];  /* error message when the status is not IC_OK */
    char warning[IC_MESSAGE_LENGTH];  /* first non-fatal warning (IC_NOTE_WARNING) */
} ic_decoded;

/* Decoders. max_side and max_pixels are checked before any pixel buffer is allocated. */
int ic_decode_jpeg(const uint8_t *data, size_t size, int max_side, int64_t max_pixels, ic_decoded *out);
int ic_decode_png(const uint8_t *data, size_t size, int max_side, int64_t max_pixels, ic_decoded *out);

/* Encoders: pixels are 8-bit HWC with 1 or 3 channels. On success *out (malloc'd, release
   with ic_free) holds *out_size bytes. message receives IC_MESSAGE_LENGTH bytes at most. */
int ic_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                   uint8_t **out, size_t *out_size, char *message);
int ic_encode_png(const uint8_t *pixels, int width, int height, int channels,
                  uint8_t **out, size_t *out_size, char *message);

void ic_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
