#!/usr/bin/env bash
# Prepares the facades dataset (pix2pix's CMP Facades release) for `translate train pix2pix`.
# Usage: datasets/download_facades.sh [TARGET_DIR]
# On the project's machines the data is already at ../shared/datasets/facades: this script
# links it. Elsewhere, download facades.tar.gz from the pix2pix dataset release, and
# unpack it so that TARGET_DIR/train/*.jpg and TARGET_DIR/val/*.jpg are 512x256 [photo | labels].
set -euo pipefail
target="${1:-datasets/facades}"
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="$here/../shared/datasets/facades"
if [ -d "$target/train" ]; then echo "$target already prepared"; exit 0; fi
if [ -d "$shared/train" ]; then
  ln -s "$shared" "$target"
  echo "linked $target -> $shared"
else
  echo "facades not found. Download facades.tar.gz from the pix2pix dataset release and unpack it into $target" >&2
  echo "(expected: $target/train/*.jpg and $target/val/*.jpg, each 512x256 = [photo | label map])" >&2
  exit 1
fi
