/*
 * fuzz_decode.c: libFuzzer target for the codec shim's decoders (Sources/CImageCodecs).
 *
 * Built twice by tools/fuzz/run.sh: with -DFUZZ_PNG (ic_decode_png) and -DFUZZ_JPEG
 * (ic_decode_jpeg). Each input is decoded under small limits (so that a claimed size can
 * not exhaust the fuzzer's memory or time) and the result is checked:
 *   - the status is one of IC_OK ... IC_NO_MEMORY and the messages are NUL-terminated;
 *   - on IC_OK, the pixel buffer has width * height * channels bytes (every byte is read,
 *     so AddressSanitizer sees a short buffer), channels is 1 or 3, sizes are within limits;
 *   - on IC_TOO_LARGE, the reported limit is one of IC_LIMIT_*;
 *   - a small decoded image is encoded to PNG and decoded back bit-exactly, and encoded to
 *     JPEG and decoded back with the same size (the encoders see odd sizes too).
 * Any failed check aborts, which libFuzzer reports as a crash with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_codecs.h"

#if defined(FUZZ_PNG)
#define DECODE ic_decode_png
#elif defined(FUZZ_JPEG)
#define DECODE ic_decode_jpeg
#else
#error "define FUZZ_PNG or FUZZ_JPEG"
#endif

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "fuzz_decode: check failed: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
            abort();                                                  \
        }                                                             \
    } while (0)

static const ic_limits limits = {
    .max_side = 16384,
    .max_pixels = 4 << 20,       /* 4 megapixels: keeps each run fast */
    .max_bytes = 256 << 20,      /* libFuzzer's default RSS limit is 2 GB */
    .max_scans = 1000,
    .max_scan_pixels = 100LL << 22, /* 100 passes over 4 megapixels */
    .output_copies = 1,
};

static void check_terminated(const char *s, const char *what) {
    CHECK(memchr(s, 0, IC_MESSAGE_LENGTH) != NULL, "%s is not NUL-terminated", what);
}

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ic_decoded d;
    int status = DECODE(data, size, &limits, &d);
    check_terminated(d.message, "message");
    check_terminated(d.warning, "warning");
    CHECK(status >= IC_OK && status <= IC_NO_MEMORY, "status %d", status);
    if (status == IC_TOO_LARGE)
        CHECK(d.limit >= IC_LIMIT_SIDE && d.limit <= IC_LIMIT_SCANS, "limit %d", d.limit);
    if (status != IC_OK) {
        CHECK(d.pixels == NULL, "pixels left allocated after status %d", status);
        CHECK(d.message[0] != 0 || status == IC_TOO_LARGE, "status %d without a message", status);
        return 0;
    }
    CHECK(d.pixels != NULL, "IC_OK without pixels");
    CHECK(d.channels == 1 || d.channels == 3, "channels %d", d.channels);
    CHECK(d.width >= 1 && d.height >= 1 && d.width <= limits.max_side && d.height <= limits.max_side,
          "size %d x %d", d.width, d.height);
    CHECK((int64_t)d.width * d.height <= limits.max_pixels, "%d x %d above max_pixels", d.width, d.height);
    CHECK(d.bytes_needed > 0 && d.bytes_needed <= limits.max_bytes, "bytes_needed %lld", (long long)d.bytes_needed);
    CHECK(d.orientation >= 0 && d.orientation <= 8, "orientation %d", d.orientation);
    size_t n = (size_t)d.width * (size_t)d.height * (size_t)d.channels;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += d.pixels[i];
    sink = sum;

    if (n <= 64 * 64 * 3) {
        uint8_t *png = NULL, *jpg = NULL;
        size_t png_size = 0, jpg_size = 0;
        char message[IC_MESSAGE_LENGTH];
        int s = ic_encode_png(d.pixels, d.width, d.height, d.channels, &png, &png_size, message);
        CHECK(s == IC_OK, "PNG encode of %d x %d x %d: %s", d.width, d.height, d.channels, message);
        ic_decoded back;
        s = ic_decode_png(png, png_size, &limits, &back);
        CHECK(s == IC_OK, "PNG round trip: %s", back.message);
        CHECK(back.width == d.width && back.height == d.height && back.channels == d.channels &&
                  memcmp(back.pixels, d.pixels, n) == 0 && back.notes == 0,
              "PNG round trip differs");
        ic_free(back.pixels);
        ic_free(png);
        s = ic_encode_jpeg(d.pixels, d.width, d.height, d.channels, 90, &jpg, &jpg_size, message);
        CHECK(s == IC_OK, "JPEG encode of %d x %d x %d: %s", d.width, d.height, d.channels, message);
        s = ic_decode_jpeg(jpg, jpg_size, &limits, &back);
        CHECK(s == IC_OK, "JPEG round trip: %s", back.message);
        CHECK(back.width == d.width && back.height == d.height && back.channels == d.channels && back.notes == 0,
              "JPEG round trip: %d x %d x %d, notes %d", back.width, back.height, back.channels, back.notes);
        ic_free(back.pixels);
        ic_free(jpg);
    }
    ic_free(d.pixels);
    return 0;
}
