#!/usr/bin/env bash
# The main job on a built-in default: install and build (scripts/setup.sh), generate a small
# random-weight llama model with the built-in vocabulary (cached), generate text from it on this
# machine, then pool it over 3 nodes on this machine (2 worker processes over TCP, then shared
# memory), each holding a third of the weights, and check that both pools produce the same tokens
# (and how many of them match one node's);
# then serve it over the OpenAI-compatible API and ask it once with curl, show the plan for
# uneven machines and take a short benchmark, pooled beside local.
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

echo "== demo: the same model pooled over 3 nodes (this process + 2 'shoal worker' processes over"
echo "   TCP on 127.0.0.1, each holding a third of the weights; greedy, so the tokens must match)"
tokens() { sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p'; }
ONE=$("$SHOAL" run -m "$MODEL" -p "The shoal of fish turned at once, and" -n 32 --temp 0 -t 1 --json | tokens)
POOL=$("$SHOAL" run -m "$MODEL" -p "The shoal of fish turned at once, and" -n 32 --temp 0 -t 1 \
  --local 2 --json | tokens)
SHM=$("$SHOAL" run -m "$MODEL" -p "The shoal of fish turned at once, and" -n 32 --temp 0 -t 1 \
  --local 2 --transport shm --json | tokens)
echo "   one node      : $ONE"
echo "   3 nodes, tcp  : $POOL"
echo "   3 nodes, shm  : $SHM"
# The pool computes the same arithmetic over tcp and shm: its tokens must be identical. Against
# one node, the pooled logits agree within rounding (the tensor-parallel partial sums are added
# in another order; tests/cluster checks 5% of their RMS), so greedy tokens agree until a
# near-tie between two candidates, which random weights make common.
if [[ "$POOL" != "$SHM" ]]; then echo "   tcp and shm pools DIFFER"; exit 1; fi
python3 -c '
import sys
one, pool = sys.argv[1].split(","), sys.argv[2].split(",")
same = next((i for i, (a, b) in enumerate(zip(one, pool)) if a != b), len(one))
print(f"   tcp and shm pools: identical; the pool matches one node on {same} of {len(one)} tokens"
      + ("" if same == len(one) else " (then a near-tie went the other way)"))' "$ONE" "$POOL"
"$SHOAL" run -m "$MODEL" -p "The shoal of fish turned at once, and" -n 16 --temp 0 -t 1 --local 2

echo
echo "== demo: shoal serve: the model behind an OpenAI-compatible API on 127.0.0.1 (a port the"
echo "   system picks), asked once with curl, streaming; the dashboard would be at the same address"
SERVE_LOG=$(mktemp)
"$SHOAL" serve -m "$MODEL" --port 0 -t 1 --chat-template-fallback chatml 2>"$SERVE_LOG" &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null || true; rm -f "$SERVE_LOG"' EXIT
URL=""
for _ in $(seq 300); do
  URL=$(sed -n 's|.*listening on \(http://[0-9.]*:[0-9]*\).*|\1|p' "$SERVE_LOG" | head -n 1)
  [[ -n $URL ]] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_LOG"; exit 1; }
  sleep 0.1
done
[[ -n $URL ]] || { echo "   shoal serve did not start"; cat "$SERVE_LOG"; exit 1; }
echo "   $URL/v1/chat/completions:"
curl -sS -N "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages": [{"role": "user", "content": "Tell me about the sea."}], "max_tokens": 24,
       "temperature": 0.8, "seed": 7, "stream": true, "stream_options": {"include_usage": true}}' |
  python3 -c '
import json, sys
text, usage = "", None
for line in sys.stdin:
    if not line.startswith("data: ") or line.strip() == "data: [DONE]":
        continue
    chunk = json.loads(line[6:])
    usage = chunk.get("usage") or usage
    for c in chunk["choices"]:
        text += c["delta"].get("content") or ""
print("   streamed text:", repr(text))
print("   usage:", json.dumps(usage))'
echo "   (random weights: gibberish again; every endpoint: docs/api.md)"
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true

echo
echo "== demo: shoal plan for three unequal machines (what each would hold)"
"$SHOAL" plan -m "$MODEL" --node mem=64G,threads=16,bw=200,name=big --node mem=16G,threads=8,bw=60,name=mid \
  --node mem=8G,threads=4,bw=40,name=small

echo
echo "== demo: shoal bench on the same model (1 and all threads, and 2 nodes x 1 thread pooled)"
"$SHOAL" bench --model "$MODEL" --reps 3 --membw-mib 512 --pool tcp:2,shm:2

echo
echo "== demo: done. Next: '$SHOAL bench' (the 1B llama-shaped models, generated once), README.md"
echo "   (running on several machines) and docs/cli.md for every verb."
