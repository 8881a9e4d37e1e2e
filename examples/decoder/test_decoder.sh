#!/bin/sh
# examples/decoder/test_decoder.sh - every frame of uplinks.txt through
# co2_counter.lua with `klimakit decode`; run it from the repository root:
#
#   sh examples/decoder/test_decoder.sh
#
# Prints each frame's readings (or "nothing to store", or the rejection and
# its reason) and exits 1 when a frame was rejected.
K=${KK_BIN:-build/klimakit}
command -v "$K" >/dev/null 2>&1 || K=klimakit
dir=$(dirname "$0")
rc=0
while read -r frame; do
  [ -z "$frame" ] && continue
  echo "== $frame"
  "$K" decode "$dir/co2_counter.lua" --port 2 --hex "$frame" || rc=1
done < "$dir/uplinks.txt"
exit $rc
