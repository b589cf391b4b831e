#!/usr/bin/env bash
# Serving throughput of `shoal serve` against llama.cpp's llama-server on the same GGUF, the
# same threads and the same number of slots. Manual benchmark: never run by tests or CI.
#
#   bash scripts/compare/serve_vs_llama_server.sh [--shoal BIN] [--llama-server BIN]
#        [--model GGUF] [--threads 2] [--rounds 3] [--tokens 64] [--streams "1 4 8 16"]
#        [--slots 16] [--slot-ctx 512] [--work DIR]
#
# Without --llama-server it builds one from the llama.cpp source that the npm package
# node-llama-cpp ships as a git bundle (npm pack into a temp dir, git clone the bundle, cmake
# CPU-only Release, native but AMX off, LLAMA_CURL off, target llama-server only, -j2). Without --model it
# uses `shoal bench`'s cached 1B llama q4_0 (~/.cache/shoal/bench-llama-1b-q4_0-seed1-v1.gguf),
# generating it the same way if missing (shoal gen-model --preset 1b --type q4_0 --seed 1).
# Each round starts shoal then llama-server (alternating, so both see the same machine load) on
# 127.0.0.1 with --threads/-t THREADS, `shoal serve --parallel SLOTS -c SLOT_CTX` and
# `llama-server -np SLOTS -cb -c SLOTS*SLOT_CTX`, warms each up with one short request, then runs
# scripts/compare/serve_load.mjs at each stream count. Prints one JSON object: every run, the
# medians over rounds per server and stream count, and shoal/llama ratios, of the medians and per
# round, for the three rates serve_load.mjs defines (steady decode, decode window, output: higher
# is better) and TTFT (llama/shoal, so > 1 means shoal is faster).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shoal="$repo/build/bin/shoal" llama="" model="" threads=2 rounds=3 tokens=64
streams="1 4 8 16" slots=16 slot_ctx=512 work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shoal) shoal=$2; shift 2 ;;
    --llama-server) llama=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --slot-ctx) slot_ctx=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$work" ] || work=$(mktemp -d /tmp/shoal-vs-llama.XXXXXX)
mkdir -p "$work"
log() { echo "serve_vs_llama_server: $*" >&2; }

if [ -z "$llama" ]; then
  src="$work/llama.cpp"
  if [ ! -x "$src/build/bin/llama-server" ]; then
    log "building llama-server from node-llama-cpp's bundle in $work"
    (cd "$work" && npm pack node-llama-cpp >/dev/null && tar xzf node-llama-cpp-*.tgz)
    git clone -q "$work/package/llama/gitRelease.bundle" "$src"
    # With GGML_NATIVE=ON the GGML_AMX_* options are ignored (-march=native turns AMX on where
    # the CPU has it), and a kernel that does not grant AMX kills it with SIGILL at the first
    # matmul; explicit -mno-amx-* win over -march=native in GCC whatever their order.
    noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
      -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" \
      -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$work/llama-cmake.log"
    cmake --build "$src/build" --target llama-server -j2 >"$work/llama-build.log"
  fi
  llama="$src/build/bin/llama-server"
fi
llama_commit=$(git -C "$(dirname "$llama")/../.." rev-parse HEAD 2>/dev/null || echo unknown)

if [ -z "$model" ]; then
  cache=${SHOAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal}
  model="$cache/bench-llama-1b-q4_0-seed1-v1.gguf"
  if [ ! -f "$model" ]; then
    mkdir -p "$cache"
    log "generating $model"
    "$shoal" gen-model --preset 1b --type q4_0 --seed 1 -o "$model"
  fi
fi

port=18431
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap stop EXIT
start() {  # start <name>
  port=$((port + 1))
  if [ "$1" = shoal ]; then
    "$shoal" serve -m "$model" --host 127.0.0.1 --port "$port" --threads "$threads" \
      --parallel "$slots" -c "$slot_ctx" >"$work/$1.log" 2>&1 &
  else
    "$llama" -m "$model" --host 127.0.0.1 --port "$port" -t "$threads" -np "$slots" -cb \
      -c $((slots * slot_ctx)) >"$work/$1.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1; then
      # llama-server answers /v1/models while it still loads; /health says when it is ready.
      if [ "$1" = shoal ] || curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        node "$here/serve_load.mjs" --url "http://127.0.0.1:$port" --streams 1 --max-tokens 4 \
          --logprobs 1 >/dev/null
        return 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || { log "$1 exited; see $work/$1.log"; exit 1; }
    sleep 1
  done
  log "$1 did not start; see $work/$1.log"; exit 1
}

runs="$work/runs.jsonl"
: >"$runs"
for r in $(seq 1 "$rounds"); do
  for server in shoal llama; do
    start "$server"
    for n in $streams; do
      log "round $r $server streams $n"
      # shoal sends a chunk per token of this model only with logprobs (see serve_load.mjs);
      # llama-server sends one anyway, so it gets none: any cost of logprobs falls on shoal.
      lp=0; [ "$server" = shoal ] && lp=1
      out=$(node "$here/serve_load.mjs" --url "http://127.0.0.1:$port" --streams "$n" \
        --max-tokens "$tokens" --logprobs "$lp")
      echo "{\"round\":$r,\"server\":\"$server\",\"load\":$out}" >>"$runs"
    done
    stop
  done
done

shoal_commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
node - "$runs" "$shoal_commit" "$llama_commit" "$threads" "$slots" "$slot_ctx" "$tokens" \
  "$rounds" "$model" <<'JS'
const fs = require('fs');
const [runsPath, shoalCommit, llamaCommit, threads, slots, slotCtx, tokens, rounds, model] =
  process.argv.slice(2);
const runs = fs.readFileSync(runsPath, 'utf8').trim().split('\n').map(JSON.parse);
const med = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const table = {};
for (const n of [...new Set(runs.map(r => r.load.streams))]) {
  const row = {};
  for (const srv of ['shoal', 'llama']) {
    const rs = runs.filter(r => r.server === srv && r.load.streams === n).map(r => r.load);
    row[srv] = {
      steady_decode_tok_s: med(rs.map(x => x.steady_decode_tok_s)),
      aggregate_decode_tok_s: med(rs.map(x => x.aggregate_decode_tok_s)),
      output_tok_s: med(rs.map(x => x.output_tok_s)),
      ttft_p50_ms: med(rs.map(x => x.ttft_p50_ms)), ttft_p99_ms: med(rs.map(x => x.ttft_p99_ms)),
      per_stream_decode_tok_s_p50: med(rs.map(x => x.per_stream_decode_tok_s_p50)),
      rounds: rs.length,
    };
  }
  // Ratios of the medians, and the median of the per-round ratios (the two servers run back to
  // back in a round, so a round's ratio is taken under one load).
  const perRound = key => med([...new Set(runs.map(r => r.round))].map(k => {
    const one = srv => runs.find(r => r.round === k && r.server === srv && r.load.streams === n);
    const s = one('shoal'), l = one('llama');
    return s && l ? s.load[key] / l.load[key] : NaN;
  }).filter(x => !Number.isNaN(x)));
  for (const key of ['steady_decode_tok_s', 'aggregate_decode_tok_s', 'output_tok_s']) {
    const short = key.replace(/_tok_s$/, '');
    row[`ratio_${short}_shoal_over_llama`] = row.shoal[key] / row.llama[key];
    row[`ratio_${short}_shoal_over_llama_per_round`] = perRound(key);
  }
  row.ratio_aggregate_shoal_over_llama = row.ratio_aggregate_decode_shoal_over_llama;
  row.ratio_ttft_p50_llama_over_shoal = row.llama.ttft_p50_ms / row.shoal.ttft_p50_ms;
  row.ratio_ttft_p99_llama_over_shoal = row.llama.ttft_p99_ms / row.shoal.ttft_p99_ms;
  table[n] = row;
}
console.log(JSON.stringify({
  shoal_commit: shoalCommit, llama_cpp_commit: llamaCommit, model, threads: +threads,
  slots: +slots, slot_ctx: +slotCtx, max_tokens: +tokens, rounds: +rounds, medians: table,
  runs,
}, null, 1));
JS
