#!/usr/bin/env bash
# The main job on a built-in default: install and build (scripts/setup.sh), generate a small
# random-weight llama model with the built-in vocabulary (cached), generate text from it, and
# take a short benchmark. About two minutes after the build on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
SHOAL=${BUILD_DIR:-build}/bin/shoal
CACHE=${SHOAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal}
mkdir -p "$CACHE"
MODEL=$CACHE/demo-llama-4l-q8_0-v1.gguf

echo
if [[ -f $MODEL ]]; then
  echo "== demo: using the cached demo model $MODEL"
else
  echo "== demo: generating a small random-weight llama model (4 layers, n_embd 512, q8_0,"
  echo "   built-in byte-level BPE vocabulary) into $MODEL"
  "$SHOAL" gen-model -o "$MODEL" --arch llama --n-embd 512 --n-layer 4 --n-head 8 \
    --n-head-kv 4 --n-ff 1408 --type q8_0 --seed 1
fi

echo
echo "== demo: what is inside it (shoal inspect, last lines)"
"$SHOAL" inspect "$MODEL" | tail -n 8

echo
echo "== demo: shoal run (random weights, so the text is gibberish; the speed is real)"
"$SHOAL" run -m "$MODEL" -p "The shoal of fish turned at once, and" -n 48 --temp 0.8 --seed 7
echo

echo "== demo: shoal bench on the same model (1 and all threads, medians of 3)"
"$SHOAL" bench --model "$MODEL" --reps 3 --membw-mib 512

echo
echo "== demo: done. Next: '$SHOAL bench' (the 1B llama-shaped models, generated once)"
echo "   and docs/cli.md for every verb."
