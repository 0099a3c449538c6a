#!/usr/bin/env bash
# tools/fuzz/run.sh [SECONDS] [TARGET...]: builds the libFuzzer targets of the codec shim and
# runs each for SECONDS (default 120), one after the other. TARGETs: png, jpeg (default both).
#
#   tools/fuzz/run.sh            # 2 minutes each
#   tools/fuzz/run.sh 30 jpeg    # only the JPEG decoder, 30 s
#
# Crashes, leaks and timeouts are saved as tools/fuzz/crashes/<target>-crash-<sha1> (or
# -leak-, -timeout-, -oom-); the script exits 1 when a run found one. The growing corpus
# lives in .build/fuzz/corpus-<target> (kept between runs); seeds are the JPEG/PNG fixtures
# in Tests/Fixtures/images plus a few variants made here with cjpeg (libjpeg-turbo-progs)
# when it is installed. Environment: CC (a clang with -fsanitize=fuzzer; default: clang
# if it has libFuzzer, else /opt/swift/usr/bin/clang), FUZZ_JOBS_ARGS (extra libFuzzer
# flags), FUZZ_BUILD (build folder, default .build/fuzz), FUZZ_LIB_PREFIX (a prefix with
# include/ and lib/libjpeg.a, lib/libpng16.a built with -fsanitize=fuzzer-no-link,address:
# linked instead of the system libraries, so libFuzzer also sees the codecs' coverage;
# see README.md).
set -euo pipefail

seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(png jpeg)
case "$seconds" in ''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-$root/.build/fuzz}
crashes=$here/crashes
mkdir -p "$build" "$crashes"

# A clang that links libFuzzer.
probe() {
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$build/probe.c"
    "$1" -fsanitize=fuzzer "$build/probe.c" -o "$build/probe" >/dev/null 2>&1
}
if [ -z "${CC:-}" ]; then
    for c in clang /opt/swift/usr/bin/clang; do
        if command -v "$c" >/dev/null 2>&1 && probe "$c"; then CC=$c; break; fi
    done
fi
if [ -z "${CC:-}" ]; then
    echo "run.sh: no clang with libFuzzer found: apt-get install -y clang, or set CC" >&2
    exit 2
fi
for pc in libpng libjpeg; do
    pkg-config --exists "$pc" || { echo "run.sh: pkg-config cannot find $pc (apt-get install -y libpng-dev libjpeg-dev pkg-config)" >&2; exit 2; }
done

# Seeds: the fixtures, and cjpeg variants (progressive, restarts, arithmetic coding, 4:4:4,
# gray, optimized tables) of one fixture when cjpeg/djpeg are there.
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds/png" "$seeds/jpeg"
cp "$root"/Tests/Fixtures/images/*.png "$seeds/png/"
cp "$root"/Tests/Fixtures/images/*.jpg "$seeds/jpeg/"
if command -v cjpeg >/dev/null 2>&1 && command -v djpeg >/dev/null 2>&1; then
    djpeg -pnm "$root/Tests/Fixtures/images/progressive.jpg" >"$build/src.ppm"
    i=0
    for opts in "-progressive" "-restart 1" "-restart 1B -progressive" "-arithmetic" "-arithmetic -progressive" \
                "-sample 1x1" "-sample 2x2 -quality 30" "-grayscale -progressive" "-optimize" "-baseline -quality 5"; do
        # shellcheck disable=SC2086
        cjpeg $opts "$build/src.ppm" >"$seeds/jpeg/cjpeg-$i.jpg" 2>/dev/null || rm -f "$seeds/jpeg/cjpeg-$i.jpg"
        i=$((i + 1))
    done
fi

flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/Sources/CImageCodecs/include")
if [ -n "${FUZZ_LIB_PREFIX:-}" ]; then
    pcflags=(-I"$FUZZ_LIB_PREFIX/include" -I"$FUZZ_LIB_PREFIX/include/libpng16")
    pclibs=("$FUZZ_LIB_PREFIX/lib/libpng16.a" "$FUZZ_LIB_PREFIX/lib/libjpeg.a" -lz -lm)
else
    read -r -a pcflags <<<"$(pkg-config --cflags libpng libjpeg)"
    read -r -a pclibs <<<"$(pkg-config --libs libpng libjpeg)"
fi

status=0
for t in "${targets[@]}"; do
    case "$t" in
        png) def=-DFUZZ_PNG ;;
        jpeg) def=-DFUZZ_JPEG ;;
        *) echo "run.sh: unknown target '$t' (png, jpeg)" >&2; exit 2 ;;
    esac
    exe=$build/fuzz_$t
    echo "== building $exe with $CC"
    "$CC" "${flags[@]}" "$def" "${pcflags[@]}" "$here/fuzz_decode.c" "$root/Sources/CImageCodecs/image_codecs.c" \
        "${pclibs[@]}" -o "$exe" 2> >(grep -v "Cannot export local symbol" >&2)
    corpus=$build/corpus-$t
    mkdir -p "$corpus"
    log=$build/fuzz_$t.log
    echo "== fuzzing $t for $seconds s (log: $log)"
    before=$(find "$crashes" -maxdepth 1 -name "$t-*" | wc -l)
    set +e
    # shellcheck disable=SC2086
    "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -dict="$here/$t.dict" -artifact_prefix="$crashes/$t-" ${FUZZ_JOBS_ARGS:-} "$corpus" "$seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|ERROR: |SUMMARY: " "$log" || true
    after=$(find "$crashes" -maxdepth 1 -name "$t-*" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "== $t: libFuzzer exited $rc; new findings in $crashes:"
        find "$crashes" -maxdepth 1 -name "$t-*" -newer "$exe" -print
        status=1
    else
        echo "== $t: no findings (corpus: $(find "$corpus" -type f | wc -l) inputs)"
    fi
done
exit $status
