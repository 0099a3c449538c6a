#!/usr/bin/env bash
# tools/fuzz/run.sh [SECONDS] [TARGET...]: builds libFuzzer targets and runs each for SECONDS
# (default 120), one after the other. TARGETs: png, jpeg (the codec shim, C); safetensors
# (Sources/NN/SafeTensors.swift), torch (Sources/TorchImport: the bytes of a torch.save file,
# zip or legacy) and unpickle (its restricted unpickler alone), in Swift. Default: png jpeg.
#
#   tools/fuzz/run.sh                          # png and jpeg, 2 minutes each
#   tools/fuzz/run.sh 30 jpeg                  # only the JPEG decoder, 30 s
#   tools/fuzz/run.sh 180 safetensors torch    # the checkpoint readers, 3 minutes each
#
# Crashes, leaks and timeouts are saved as tools/fuzz/crashes/<target>-crash-<sha1> (or
# -leak-, -timeout-, -oom-); the script exits 1 when a run found one. The growing corpus
# lives in .build/fuzz/corpus-<target> (kept between runs). Seeds: the JPEG/PNG fixtures in
# Tests/Fixtures/images plus a few variants made here with cjpeg (libjpeg-turbo-progs) when
# it is installed; the .safetensors and .pth fixtures under Tests/Fixtures of at most 64 kB
# (the longest input tried) and tools/fuzz/seeds/<target> (make_seeds.py); for unpickle also
# the pickles of the .pth seeds (data.pkl of a zip, via unzip; a legacy file whole).
# Environment: CC (a clang with -fsanitize=fuzzer; default: clang if it has libFuzzer, else
# /opt/swift/usr/bin/clang), SWIFTC (default: swiftc on PATH, else /opt/swift/usr/bin/swiftc),
# FUZZ_JOBS_ARGS (extra libFuzzer flags), FUZZ_BUILD (build folder, default .build/fuzz),
# FUZZ_LIB_PREFIX (a prefix with include/ and lib/libjpeg.a, lib/libpng16.a built with
# -fsanitize=fuzzer-no-link,address: linked instead of the system libraries, so libFuzzer
# also sees the codecs' coverage; see README.md).
set -euo pipefail

seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(png jpeg)
case "$seconds" in ''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
need_c=0 need_swift=0
for t in "${targets[@]}"; do
    case "$t" in
        png|jpeg) need_c=1 ;;
        safetensors|torch|unpickle) need_swift=1 ;;
        *) echo "run.sh: unknown target '$t' (png, jpeg, safetensors, torch, unpickle)" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-$root/.build/fuzz}
crashes=$here/crashes
mkdir -p "$build" "$crashes"
seeds=$build/seeds
max_len=65536

# ---- C targets: the codec shim over libjpeg and libpng.
if [ "$need_c" = 1 ]; then
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
    rm -rf "$seeds/png" "$seeds/jpeg"
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
fi

# ---- Swift targets: the production sources compiled by swiftc (SwiftPM cannot give one
# product -sanitize=fuzzer). CKernels (C, plain -O2) and Tensors (-sanitize=address) are the
# dependencies; NN and TorchImport, the readers, get libFuzzer's coverage instrumentation
# (-sanitize=fuzzer,address). A module is rebuilt when one of its sources is newer than it.
# The harnesses are linked from inside $sw: with -g, swiftc leaves <module>-1.swiftmodule
# (and .swiftdoc, .swiftsourceinfo) in the current folder.
if [ "$need_swift" = 1 ]; then
    if [ -z "${SWIFTC:-}" ]; then
        for c in swiftc /opt/swift/usr/bin/swiftc; do
            if command -v "$c" >/dev/null 2>&1; then SWIFTC=$c; break; fi
        done
    fi
    [ -n "${SWIFTC:-}" ] || { echo "run.sh: no swiftc found: set SWIFTC" >&2; exit 2; }
    pkg-config --exists openblas || { echo "run.sh: pkg-config cannot find openblas (apt-get install -y libopenblas-dev pkg-config)" >&2; exit 2; }
    sw=$build/swift
    mkdir -p "$sw/mm/CKernels" "$sw/obj" "$sw/mod"
    export SWIFT_BACKTRACE=enable=no   # a trap goes to libFuzzer, not to the Swift backtracer (which can hang it)
    # stale OUT SRC...: OUT is missing or older than one of the SRCs.
    stale() { local out=$1 f; shift; [ -e "$out" ] || return 0; for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done; return 1; }
    cc=${CC:-/opt/swift/usr/bin/clang}
    command -v "$cc" >/dev/null 2>&1 || cc=$(dirname "$(command -v "$SWIFTC")")/clang
    ckernels=()
    for f in "$root"/Sources/CKernels/*.c; do
        o=$sw/obj/ckernels_$(basename "$f" .c).o
        ckernels+=("$o")
        if stale "$o" "$f" "$root"/Sources/CKernels/*.h "$root"/Sources/CKernels/include/*.h; then
            "$cc" -c -O2 -fno-math-errno -I"$root/Sources/CKernels/include" "$f" -o "$o"
        fi
    done
    printf 'module CKernels {\n    umbrella "%s"\n    export *\n}\n' "$root/Sources/CKernels/include" >"$sw/mm/CKernels/module.modulemap.new"
    cmp -s "$sw/mm/CKernels/module.modulemap.new" "$sw/mm/CKernels/module.modulemap" || mv "$sw/mm/CKernels/module.modulemap.new" "$sw/mm/CKernels/module.modulemap"
    read -r -a blas_libs <<<"$(pkg-config --libs openblas)"
    swift_flags=(-parse-as-library -O -g -wmo -I "$sw/mod" -I "$sw/mm" -I "$root/Sources/COpenBLAS")
    for f in $(pkg-config --cflags-only-I openblas); do swift_flags+=(-Xcc "$f"); done
    # swift_module NAME SANITIZE SOURCES...: compiles one module to $sw/obj/NAME.o and $sw/mod/NAME.swiftmodule.
    swift_module() {
        local name=$1 sanitize=$2
        shift 2
        if stale "$sw/obj/$name.o" "$@" "$sw/mm/CKernels/module.modulemap" || { [ "$name" != Tensors ] && [ "$sw/obj/Tensors.o" -nt "$sw/obj/$name.o" ]; }; then
            echo "== compiling module $name ($sanitize)"
            "$SWIFTC" "${swift_flags[@]}" -sanitize="$sanitize" -module-name "$name" -emit-module \
                -emit-module-path "$sw/mod/$name.swiftmodule" -c "$@" -o "$sw/obj/$name.o"
        fi
    }
    swift_module Tensors address $(find "$root/Sources/Tensors" -name '*.swift' | sort)
    swift_module NN fuzzer,address "$root"/Sources/NN/*.swift
    deps=("$sw/obj/NN.o" "$sw/obj/Tensors.o" "${ckernels[@]}" "${blas_libs[@]}")

    # Seeds (fixtures up to max_len bytes; longer ones would be cut and useless).
    small() { find "$@" -type f -size -$((max_len + 1))c 2>/dev/null | sort; }
    rm -rf "$seeds/safetensors" "$seeds/torch" "$seeds/unpickle"
    mkdir -p "$seeds/safetensors" "$seeds/torch" "$seeds/unpickle"
    for f in $(small "$root/Tests/Fixtures" -name '*.safetensors') $(small "$here/seeds/safetensors"); do
        cp "$f" "$seeds/safetensors/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    for f in $(small "$root/Tests/Fixtures" -name '*.pth') $(small "$here/seeds/torch"); do
        cp "$f" "$seeds/torch/$(basename "$f")"
    done
    for f in "$seeds"/torch/*; do
        if [ "$(head -c 1 "$f" | od -An -tx1 | tr -d ' ')" = 80 ]; then
            cp "$f" "$seeds/unpickle/$(basename "$f").legacy"
        elif command -v unzip >/dev/null 2>&1; then
            unzip -p "$f" '*/data.pkl' >"$seeds/unpickle/$(basename "$f").pkl" 2>/dev/null || true
            [ -s "$seeds/unpickle/$(basename "$f").pkl" ] || rm -f "$seeds/unpickle/$(basename "$f").pkl"
        fi
    done
    for f in $(small "$here/seeds/unpickle"); do cp "$f" "$seeds/unpickle/"; done
fi

status=0
for t in "${targets[@]}"; do
    exe=$build/fuzz_$t
    dict=$here/$t.dict
    case "$t" in
        png|jpeg)
            if [ "$t" = png ]; then def=-DFUZZ_PNG; else def=-DFUZZ_JPEG; fi
            echo "== building $exe with $CC"
            "$CC" "${flags[@]}" "$def" "${pcflags[@]}" "$here/fuzz_decode.c" "$root/Sources/CImageCodecs/image_codecs.c" \
                "${pclibs[@]}" -o "$exe" 2> >(grep -v "Cannot export local symbol" >&2)
            ;;
        safetensors)
            echo "== building $exe with $SWIFTC"
            (cd "$sw" && "$SWIFTC" "${swift_flags[@]}" -sanitize=fuzzer,address -module-name FuzzSafeTensors \
                "$here/fuzz_safetensors.swift" "${deps[@]}" -o "$exe") 2> >(grep -v "Cannot export local symbol" >&2)
            ;;
        torch|unpickle)
            defs=()
            if [ "$t" = unpickle ]; then defs=(-D FUZZ_UNPICKLE); dict=$here/torch.dict; fi
            echo "== building $exe with $SWIFTC"
            (cd "$sw" && "$SWIFTC" "${swift_flags[@]}" -sanitize=fuzzer,address "${defs[@]}" -module-name TorchImport \
                "$root"/Sources/TorchImport/*.swift "$here/fuzz_torch.swift" "${deps[@]}" -o "$exe") \
                2> >(grep -v "Cannot export local symbol" >&2)
            ;;
    esac
    corpus=$build/corpus-$t
    mkdir -p "$corpus"
    log=$build/fuzz_$t.log
    echo "== fuzzing $t for $seconds s (log: $log)"
    before=$(find "$crashes" -maxdepth 1 -name "$t-*" | wc -l)
    set +e
    # shellcheck disable=SC2086
    "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
        -dict="$dict" -artifact_prefix="$crashes/$t-" ${FUZZ_JOBS_ARGS:-} "$corpus" "$seeds/$t" >"$log" 2>&1
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
