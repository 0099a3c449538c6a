# shellcheck shell=bash
# Shared by datasets/download.sh and models/download.sh (sourced, not run): downloading with
# resume, mirrors, checksums, archive tests, and the temporary folder that makes the final
# step one rename. Written for bash 3.2 (macOS) as well as bash 4/5: no associative arrays.
#
# Environment (both scripts):
#   TRANSLATE_MIRROR=PREFIX  fetch every file from PREFIX/<host>/<path> instead of
#                            http(s)://<host>/<path> (the layout `wget -x` or `wget -m` makes),
#                            e.g. file:///srv/mirror or http://127.0.0.1:8000. Same code path.
#   TRANSLATE_SHA256=HEX     expect this SHA-256 for the file, instead of the script's table
#                            (to pin a mirror's copy, or for tests).
#   TRANSLATE_DOWNLOADER=curl|wget  force one (default: curl if installed, else wget).

DL_PROG=${DL_PROG:-download}
DL_PARTIAL=""        # the NAME.partial folder of the current run (cleaned up on exit)
DL_RESUMED=0

dl_say() { printf '%s\n' "$*"; }
dl_die() { printf '%s: error: %s\n' "$DL_PROG" "$*" >&2; exit 1; }

# On any exit: drop half-unpacked folders; drop the .partial folder when nothing worth keeping
# (an interrupted download's .part, or a complete download not yet unpacked) is left in it.
dl_on_exit() {
    if [ -n "$DL_PARTIAL" ] && [ -d "$DL_PARTIAL" ]; then
        rm -rf "$DL_PARTIAL/unpack" "$DL_PARTIAL/ready"
        rmdir "$DL_PARTIAL" 2>/dev/null || true
    fi
}
trap dl_on_exit EXIT

# The URL actually fetched: the source's, or the mirror's copy of it.
dl_url() {
    local url=$1
    if [ -n "${TRANSLATE_MIRROR:-}" ]; then
        printf '%s/%s\n' "${TRANSLATE_MIRROR%/}" "${url#*://}"
    else
        printf '%s\n' "$url"
    fi
}

dl_size() { wc -c <"$1" | tr -d ' '; }

dl_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
    elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    else return 1
    fi
}

# dl_get URL OUT RESUME(0|1): one transfer attempt into OUT.
dl_get() {
    local url=$1 out=$2 resume=$3 tool=${TRANSLATE_DOWNLOADER:-}
    if [ -z "$tool" ]; then
        if command -v curl >/dev/null 2>&1; then tool=curl
        elif command -v wget >/dev/null 2>&1; then tool=wget
        else dl_die "neither curl nor wget is installed"
        fi
    fi
    if [ "$tool" = curl ]; then
        local args=(-fL --retry 2 --retry-delay 2 --connect-timeout 30)
        if [ -t 2 ]; then args+=(--progress-bar); else args+=(-sS); fi
        if [ "$resume" = 1 ]; then args+=(-C -); fi
        curl "${args[@]}" -o "$out" "$url"
    else
        local args=(--tries=3 --timeout=30)
        if [ -t 2 ]; then args+=(--progress=bar); else args+=(-nv); fi
        if [ "$resume" = 1 ]; then args+=(-c); fi
        wget "${args[@]}" -O "$out" "$url"
    fi
}

# dl_fetch URL DEST: download URL to DEST.part, resuming a .part left by an interrupted run
# (a server that ignores ranges makes curl refuse to resume: then start again from the
# beginning), and rename it to DEST when complete. Sets DL_RESUMED=1 if it resumed.
dl_fetch() {
    local url=$1 dest=$2 part="$2.part" rc=0
    DL_RESUMED=0
    if [ -s "$part" ]; then
        dl_say "  resuming the interrupted download in $part ($(dl_size "$part") bytes so far)"
        DL_RESUMED=1
        dl_get "$url" "$part" 1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            dl_say "  could not resume (exit $rc; the server may not support ranges): downloading again from the start"
            rm -f "$part"
            DL_RESUMED=0
            rc=0
            dl_get "$url" "$part" 0 || rc=$?
        fi
    else
        rm -f "$part"
        dl_get "$url" "$part" 0 || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        if [ -s "$part" ]; then
            dl_die "downloading $url failed (exit $rc); $(dl_size "$part") bytes are kept in $part: run again to resume"
        fi
        rm -f "$part"
        dl_die "downloading $url failed (exit $rc)"
    fi
    mv -f "$part" "$dest"
}

# dl_damage FILE FORMAT EXPECTED_SHA256: prints why FILE is unusable (nothing if it is fine).
dl_damage() {
    local f=$1 format=$2 sha=$3 got
    if [ -n "$sha" ]; then
        got=$(dl_sha256 "$f") || { echo "no sha256sum/shasum/openssl to check its checksum"; return; }
        if [ "$got" != "$sha" ]; then echo "checksum mismatch (SHA-256 $got, expected $sha)"; return; fi
    fi
    case $format in
        tar.gz|tgz)
            if ! gzip -t "$f" >/dev/null 2>&1 || ! tar -tzf "$f" >/dev/null 2>&1; then
                echo "damaged archive (gzip/tar test failed: truncated or corrupted)"
            fi ;;
        tar)
            tar -tf "$f" >/dev/null 2>&1 || echo "damaged archive (tar test failed: truncated or corrupted)" ;;
        zip)
            command -v unzip >/dev/null 2>&1 || { echo "unzip is not installed (needed to test and unpack .zip files)"; return; }
            unzip -tqq "$f" >/dev/null 2>&1 || echo "damaged archive (unzip test failed: truncated or corrupted)" ;;
        pth)
            # torch >= 1.6 writes zip files; older (legacy) files are raw pickles, which
            # `translate import` checks itself.
            if [ "$(head -c 2 "$f")" = "PK" ]; then
                if command -v unzip >/dev/null 2>&1; then
                    unzip -tqq "$f" >/dev/null 2>&1 || echo "damaged checkpoint (the .pth zip fails unzip's test: truncated or corrupted)"
                fi
            fi ;;
    esac
    return 0
}

# dl_obtain URL DEST FORMAT SHA256: a complete, verified DEST. A complete download left by an
# earlier run is reused; a damaged one that came from a resume or an earlier run is fetched
# once more from the start; a damaged fresh download is deleted and refused.
dl_obtain() {
    local url=$1 dest=$2 format=$3 sha=$4 fetch why earlier attempt
    fetch=$(dl_url "$url")
    for attempt in 1 2; do
        earlier=0
        if [ "$attempt" = 1 ] && [ -f "$dest" ]; then
            dl_say "  using the complete download left by an earlier run: $dest"
            earlier=1
        else
            dl_say "  downloading $fetch"
            dl_fetch "$fetch" "$dest"
            earlier=$DL_RESUMED
        fi
        why=$(dl_damage "$dest" "$format" "$sha")
        if [ -z "$why" ]; then
            if [ -n "$sha" ]; then dl_say "  checksum OK (SHA-256 $sha)"; fi
            return 0
        fi
        rm -f "$dest"
        if [ "$earlier" = 1 ] && [ "$attempt" = 1 ]; then
            dl_say "  $why; the earlier partial file was bad: downloading again from the start"
            continue
        fi
        dl_die "$fetch: $why. Deleted the download; nothing was installed. Run again to retry; if it persists the source (or mirror) is serving a bad file."
    done
}
