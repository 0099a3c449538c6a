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
 *
 * Hostile input: every size is checked against the caller's ic_limits after the header is
 * read and before any buffer that depends on it is allocated (dimensions, pixel count, an
 * estimate of the decode's peak memory); progressive JPEGs are refused past a number of
 * scans. Sizes are computed in 64 bits.
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
    IC_TOO_LARGE = 3,    /* beyond the caller's ic_limits: ic_decoded.limit says which one;
                            width/height (and bytes_needed, scans) are set */
    IC_NO_MEMORY = 4
};

/* ic_decoded.limit when the status is IC_TOO_LARGE. */
enum {
    IC_LIMIT_NONE = 0,
    IC_LIMIT_SIDE = 1,    /* width or height above max_side (or zero) */
    IC_LIMIT_PIXELS = 2,  /* width * height above max_pixels */
    IC_LIMIT_MEMORY = 3,  /* bytes_needed above max_bytes */
    IC_LIMIT_SCANS = 4,   /* JPEG with more than max_scans scans (scans = max_scans + 1) */
    IC_LIMIT_SCAN_WORK = 5 /* JPEG whose scans together cover more than max_scan_pixels */
};

/* What a decode may cost; checked before allocating. */
typedef struct {
    int64_t max_side;      /* largest width or height */
    int64_t max_pixels;    /* largest width * height */
    int64_t max_bytes;     /* largest estimated peak memory (ic_decoded.bytes_needed) */
    int max_scans;         /* JPEG: most scans (SOS markers); progressive files have about 10 */
    int64_t max_scan_pixels; /* JPEG: most pixels of all scans together, each scan counting the
                              samples of the components it codes: bounds the decoding time of
                              many scans over a large image (ordinary files: about 10 x the image) */
    int output_copies;     /* copies of the decoded pixels the caller makes, counted in bytes_needed */
} ic_limits;

/* Bits of ic_decoded.notes: what the decoder changed on the way to 8-bit gray/RGB. */
enum {
    IC_NOTE_ALPHA_DROPPED = 1 << 0,
    IC_NOTE_16BIT_SCALED = 1 << 1,
    IC_NOTE_PALETTE_EXPANDED = 1 << 2,
    IC_NOTE_CMYK_CONVERTED = 1 << 3,
    IC_NOTE_LOW_BIT_DEPTH = 1 << 4,  /* 1, 2 or 4-bit gray scaled to 8 bits */
    IC_NOTE_WARNING = 1 << 5,        /* ic_decoded.warning holds the codec's first warning */
    IC_NOTE_YCCK_CONVERTED = 1 << 6,
    IC_NOTE_MISSING_EOI = 1 << 7     /* JPEG without its end-of-image marker, no pixel data lost */
};

#define IC_MESSAGE_LENGTH 256

typedef struct {
    int width;
    int height;
    int channels;          /* 1 or 3 */
    uint8_t *pixels;       /* width * height * channels bytes, or NULL on failure */
    int notes;             /* IC_NOTE_* bits */
    int orientation;       /* JPEG EXIF orientation 1...8, or 0 when absent or invalid */
    int limit;             /* IC_LIMIT_* when the status is IC_TOO_LARGE */
    int scans;             /* JPEG: scans read (the refused one included) */
    int64_t scan_pixels;   /* JPEG: pixels of the scans read (see ic_limits.max_scan_pixels) */
    int64_t bytes_needed;  /* estimated peak memory of the decode: input, output and its copies,
                              codec buffers (libjpeg's whole-image 16-bit coefficients for
                              progressive/multi-scan JPEGs, libpng's row buffers) */
    char message[IC_MESSAGE_LENGTH];  /* error message when the status is not IC_OK */
    char warning[IC_MESSAGE_LENGTH];  /* first non-fatal warning (IC_NOTE_WARNING) */
} ic_decoded;

/* Decoders. The limits are checked after the header and before any buffer whose size the
   header decides. A JPEG that ends without its EOI marker but with all its pixel data
   decodes with IC_NOTE_MISSING_EOI; one that ends inside its pixel data (or before all of
   its scans) is IC_CORRUPT with a message starting "truncated". */
int ic_decode_jpeg(const uint8_t *data, size_t size, const ic_limits *limits, ic_decoded *out);
int ic_decode_png(const uint8_t *data, size_t size, const ic_limits *limits, ic_decoded *out);

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
