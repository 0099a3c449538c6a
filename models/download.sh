#!/usr/bin/env bash
# Downloads a pretrained generator of the pix2pix / CycleGAN reference
# (junyanz/pytorch-CycleGAN-and-pix2pix) and converts it with `translate import`.
#
#   models/download.sh NAME [DIR]        (models/download.sh --help lists the names)
#
# DIR defaults to models/NAME under the repository root, wherever the script is called
# from; it receives model.safetensors and MODEL_CARD.md (source, architecture, terms).
# The .pth goes to DIR.partial/ first (an interrupted download is resumed on the next run,
# or restarted when the server does not support ranges), is checked (SHA-256 where pinned;
# unzip's test for zip-format checkpoints; `translate import` parses it without executing
# anything and refuses a damaged or mismatching one), and DIR appears only when all of it
# worked. A DIR that already holds this model is skipped; a DIR holding anything else is
# left alone (models/facades_label2photo is the project's own model, for instance).
#
# The translate binary: $TRANSLATE_BIN, else .build/release/translate if built, else
# `swift run -c release translate`.
# Environment: TRANSLATE_MIRROR, TRANSLATE_SHA256, TRANSLATE_DOWNLOADER (see
# tools/download_common.sh); TRANSLATE_IMPORT_FLAGS="..." replaces the table's import flags
# for one run (tests convert tiny checkpoints with it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DL_PROG="models/download.sh"
# shellcheck source=tools/download_common.sh
. "$ROOT/tools/download_common.sh"

# ---------------------------------------------------------------------------------------
# The table. Names and addresses: the reference's scripts/download_pix2pix_model.sh
# ("edges2shoes, sat2map, map2sat, facades_label2photo, and day2night", from
# http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/NAME.pth) and
# scripts/download_cyclegan_model.sh (the 18 names below, from
# http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/NAME.pth). sat2map, map2sat
# and facades_label2photo exist in both, so here they are prefixed pix2pix_ / cyclegan_.
# Import flags (checked against `translate import --help`): the reference's pix2pix
# generators are unet_256, BatchNorm, dropout (its defaults for --model pix2pix); its CycleGAN
# generators are resnet_9blocks, InstanceNorm, no dropout. All are 3 -> 3 channels, ngf 64.
# Checksums: none could be pinned (no download possible here); add `M_SHA256=<hex>` lines.
# ---------------------------------------------------------------------------------------
P2P=http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch
CG=http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models
PIX2PIX_FLAGS="--net-g unet-256 --norm batch --dropout"
CYCLEGAN_FLAGS="--net-g resnet-9blocks --norm instance"
PIX2PIX_MODELS="edges2shoes pix2pix_sat2map pix2pix_map2sat pix2pix_facades_label2photo day2night"
CYCLEGAN_MODELS="apple2orange orange2apple summer2winter_yosemite winter2summer_yosemite horse2zebra zebra2horse monet2photo style_monet style_cezanne style_ukiyoe style_vangogh cyclegan_sat2map cyclegan_map2sat cityscapes_photo2label cityscapes_label2photo facades_photo2label cyclegan_facades_label2photo iphone2dslr_flower"

m_lookup() {
    M_KIND="" M_URL="" M_FLAGS="" M_SHA256="" M_WHAT="" M_DATA=""
    local remote=${1#pix2pix_}
    remote=${remote#cyclegan_}
    case " $PIX2PIX_MODELS " in
        *" $1 "*) M_KIND=pix2pix; M_URL=$P2P/$remote.pth; M_FLAGS=$PIX2PIX_FLAGS ;;
    esac
    case " $CYCLEGAN_MODELS " in
        *" $1 "*) M_KIND=cyclegan; M_URL=$CG/$remote.pth; M_FLAGS=$CYCLEGAN_FLAGS ;;
    esac
    [ -n "$M_KIND" ] || return 1
    case $remote in
        edges2shoes)         M_WHAT="edge map -> shoe photo"; M_DATA="UT Zappos50K (Yu & Grauman 2014) with HED edges" ;;
        sat2map)             M_WHAT="aerial photo -> map"; M_DATA="pix2pix maps (scraped from Google Maps)" ;;
        map2sat)             M_WHAT="map -> aerial photo"; M_DATA="pix2pix maps (scraped from Google Maps)" ;;
        facades_label2photo) M_WHAT="facade label map -> photo"; M_DATA="CMP Facade Database (Tylecek & Sara 2013)" ;;
        facades_photo2label) M_WHAT="facade photo -> label map"; M_DATA="CMP Facade Database (Tylecek & Sara 2013)" ;;
        day2night)           M_WHAT="day -> night photo"; M_DATA="Transient Attributes (Laffont et al. 2014)" ;;
        cityscapes_*)        M_WHAT="${remote#cityscapes_}"; M_WHAT="Cityscapes ${M_WHAT%2*} -> ${M_WHAT#*2}"
                             M_DATA="Cityscapes (Cordts et al. 2016), whose licence restricts use to non-commercial purposes" ;;
        style_*)             M_WHAT="photo -> painting in the style of ${remote#style_}"; M_DATA="WikiArt paintings and Flickr photos (CycleGAN release)" ;;
        *2*)                 M_WHAT="${remote%%2*} -> ${remote#*2}"; M_DATA="the CycleGAN $remote release (ImageNet / Flickr / WikiArt images)" ;;
    esac
    if [ -n "${TRANSLATE_IMPORT_FLAGS:-}" ]; then M_FLAGS=$TRANSLATE_IMPORT_FLAGS; fi
    if [ -n "${TRANSLATE_SHA256:-}" ]; then M_SHA256=$TRANSLATE_SHA256; fi
    return 0
}

usage() {
    cat <<EOF
usage: models/download.sh NAME [DIR]

Downloads the reference's pretrained generator NAME and converts it into DIR/model.safetensors
(default DIR: models/NAME in the repository) with a MODEL_CARD.md.

  pix2pix  ($PIX2PIX_FLAGS):
    $PIX2PIX_MODELS
  CycleGAN ($CYCLEGAN_FLAGS):
    $CYCLEGAN_MODELS

Environment: TRANSLATE_BIN=path/to/translate, TRANSLATE_MIRROR=PREFIX (fetch PREFIX/<host>/<path>),
TRANSLATE_SHA256=HEX, TRANSLATE_IMPORT_FLAGS="...", TRANSLATE_DOWNLOADER=curl|wget.
EOF
}

translate_cmd() {
    if [ -n "${TRANSLATE_BIN:-}" ]; then
        [ -x "$TRANSLATE_BIN" ] || dl_die "TRANSLATE_BIN=$TRANSLATE_BIN is not an executable"
        "$TRANSLATE_BIN" "$@"
    elif [ -x "$ROOT/.build/release/translate" ]; then
        "$ROOT/.build/release/translate" "$@"
    else
        (cd "$ROOT" && swift run -c release translate "$@")
    fi
}

case ${1:-} in
    -h|--help) usage; exit 0 ;;
    --list) for n in $PIX2PIX_MODELS $CYCLEGAN_MODELS; do echo "$n"; done; exit 0 ;;
    "") usage >&2; exit 2 ;;
    -*) echo "$DL_PROG: unknown option $1" >&2; usage >&2; exit 2 ;;
esac
[ $# -le 2 ] || { usage >&2; exit 2; }
NAME=$1
if ! m_lookup "$NAME"; then
    case $NAME in
        sat2map|map2sat|facades_label2photo)
            echo "$DL_PROG: '$NAME' is ambiguous: the reference has a pix2pix and a CycleGAN model of that name; use pix2pix_$NAME or cyclegan_$NAME" >&2 ;;
        *) echo "$DL_PROG: unknown model '$NAME'" >&2 ;;
    esac
    usage >&2
    exit 2
fi

if [ $# -ge 2 ]; then
    SHOWN=$2
    case $2 in /*) DIR=$2 ;; *) DIR=$PWD/$2 ;; esac
else
    DIR=$ROOT/models/$NAME; SHOWN=models/$NAME
fi

# 1. Already there?
if [ -e "$DIR" ] || [ -L "$DIR" ]; then
    if [ -f "$DIR/model.safetensors" ] && [ -f "$DIR/MODEL_CARD.md" ] && grep -qF "$M_URL" "$DIR/MODEL_CARD.md"; then
        dl_say "$NAME: already in $SHOWN ($(dl_size "$DIR/model.safetensors") bytes, from $M_URL), skipping"
        exit 0
    fi
    dl_die "$SHOWN already exists and does not hold $NAME from $M_URL (no matching MODEL_CARD.md): nothing was changed. Give another DIR, or move it away"
fi

# 2. Download, check, convert, rename.
dl_say "$NAME: preparing $SHOWN"
DL_PARTIAL=$DIR.partial
mkdir -p "$DL_PARTIAL"
rm -rf "$DL_PARTIAL/ready"
PTH=$DL_PARTIAL/$NAME.pth
dl_obtain "$M_URL" "$PTH" pth "$M_SHA256"
SHA=$(dl_sha256 "$PTH" || echo unknown)
mkdir -p "$DL_PARTIAL/ready"
dl_say "  converting: translate import $M_FLAGS"
# shellcheck disable=SC2086 # M_FLAGS is a list of flags
if ! translate_cmd import --pth "$PTH" $M_FLAGS --output "$DL_PARTIAL/ready/model.safetensors"; then
    rm -f "$PTH"
    dl_die "$NAME: translate import refused $(dl_url "$M_URL") (damaged, or not a $M_KIND generator with: $M_FLAGS). Deleted the download; nothing was installed at $SHOWN"
fi
[ -s "$DL_PARTIAL/ready/model.safetensors" ] || { rm -f "$PTH"; dl_die "$NAME: translate import wrote no model"; }

if [ "$M_KIND" = pix2pix ]; then
    ARCH="U-Net with 8 downsamplings (unet-256), ngf 64, BatchNorm, dropout 0.5 in the inner blocks: the reference's pix2pix generator"
    MODE="The reference tests pix2pix models in train mode (batch statistics, dropout on): \`--test-mode paper\`."
else
    ARCH="ResNet generator with 9 residual blocks (resnet-9blocks), ngf 64, InstanceNorm, no dropout: the reference's CycleGAN generator"
    MODE="InstanceNorm without running statistics and no dropout: \`paper\` and \`eval\` test modes give the same result."
fi
if [ -n "${TRANSLATE_IMPORT_FLAGS:-}" ]; then ARCH="as set by TRANSLATE_IMPORT_FLAGS: $M_FLAGS"; fi
cat >"$DL_PARTIAL/ready/MODEL_CARD.md" <<EOF
# $NAME

A pretrained $M_KIND generator of the reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix), converted to a translate model: $M_WHAT.

| | |
|---|---|
| source | $M_URL |
| source SHA-256 | $SHA |
| architecture | $ARCH |
| conversion | \`translate import --pth $NAME.pth $M_FLAGS --output model.safetensors\` (by models/download.sh, $(date -u +%Y-%m-%d)) |
| training data | $M_DATA |

Use:

    translate apply --model $SHOWN/model.safetensors --input IMAGES --output OUT

$MODE Inputs are RGB images as the reference was trained on (256x256 crops).

Terms: the reference code is BSD-licensed; its authors publish these weights for research
without a separate licence statement. The training data's terms apply to the model: check
them (and cite the dataset's and the method's authors) before any use beyond research.
EOF
mv "$DL_PARTIAL/ready" "$DIR"
rm -rf "$DL_PARTIAL"
dl_say "$NAME: ready in $SHOWN (model.safetensors $(dl_size "$DIR/model.safetensors") bytes, MODEL_CARD.md)"
