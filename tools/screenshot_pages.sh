#!/usr/bin/env bash
# Screenshots of HTML pages (training, apply, eval pages) with headless Chromium, to look at
# them without a desktop. Usage:
#   tools/screenshot_pages.sh [--out DIR] [--size WxH] page.html [more.html ...]
# Writes DIR/<parent-folder>_<page>.png (default DIR: /tmp/page_shots, size 1280x2000) and
# prints each PNG's path. Installs Debian's chromium with apt-get when it is missing (root).
set -euo pipefail

out=/tmp/page_shots
size=1280,2000
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --size) size=${2/x/,}; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--out DIR] [--size WxH] page.html [...]" >&2; exit 2; }

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing chromium (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2 || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2; }
        browser=$(command -v chromium)
    else
        echo "no chromium found; install it (apt-get install chromium)" >&2; exit 1
    fi
fi

mkdir -p "$out"
status=0
for page in "$@"; do
    if [ ! -f "$page" ]; then echo "not a file: $page" >&2; status=1; continue; fi
    abs=$(realpath "$page")
    name="$(basename "$(dirname "$abs")")_$(basename "$abs" .html).png"
    png="$out/$name"
    rm -f "$png"
    # A fresh profile each time: no state between pages; the page's own images load from file://.
    profile=$(mktemp -d)
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
        --allow-file-access-from-files --virtual-time-budget=5000 \
        --screenshot="$png" --window-size="$size" "file://$abs" >/dev/null 2>&1 || true
    rm -rf "$profile"
    if [ -s "$png" ]; then echo "$png"; else echo "failed: $page" >&2; status=1; fi
done
exit $status
