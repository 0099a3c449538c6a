#!/usr/bin/env bash
# Kept for older instructions: the same as `datasets/download.sh facades [DIR]`.
exec bash "$(dirname "$0")/download.sh" facades "$@"
