#!/usr/bin/env bash
# Failover benchmark (issue 11): 3 nodes in network namespaces (10.80.0.1-3/24, made and
# removed here; root only): `shoal serve --nodes` on host 1, workers on hosts 2 and 3. One
# greedy streamed request with a prompt of C tokens runs; after its 8th token host 3's worker is
# killed (-9) or stopped (SIGSTOP), then brought back before the next run. Per run:
#   detect_ms  fault -> rank 0's first log line about it (a failed step, a lost node)
#   reform_ms  the re-form as rank 0 logs it ("after N ms": failed step -> engine ready:
#              re-plan, connect, every node loads its slices)
#   replay_ms  the re-form's log line -> the first token after it (KV rebuilt by replaying)
#   resume_ms  fault -> the first token after the re-form
#   tokens_lost  max_tokens minus the tokens delivered, when the text is that of the same
#              request uninterrupted (same_text), else the request is reported as lost.
# Prints one JSON document (medians over SHOAL_BENCH_RUNS runs, default 3, and every sample).
#   sudo bench/failover/failover_bench.sh build/bin/shoal /tmp/failover-bench
# SHOAL_BENCH_MODEL: a GGUF to use instead of the generated f16 model (n_embd 512, 4 layers);
# SHOAL_BENCH_CONTEXTS (default "256 1024 4096"), SHOAL_BENCH_THREADS (per node, default 1),
# SHOAL_BENCH_MAX_TOKENS (default 160; the fault comes after the 8th).
set -euo pipefail
SHOAL=${1:?shoal binary}
TMP=${2:?scratch dir}
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${SHOAL_BENCH_RUNS:-3}
CONTEXTS=${SHOAL_BENCH_CONTEXTS:-256 1024 4096}
THREADS=${SHOAL_BENCH_THREADS:-1}
# shellcheck disable=SC2034 # pool_lib.sh reads it
WORKER_THREADS=$THREADS
MAX_TOKENS=${SHOAL_BENCH_MAX_TOKENS:-160}
TAG=b$$
NET=10.80.0
# shellcheck source=../../tests/netns/pool_lib.sh
source "$HERE/../../tests/netns/pool_lib.sh"
pool_need_root
trap pool_cleanup EXIT
pool_hosts 3
rm -rf "$TMP" && mkdir -p "$TMP"
export SHOAL_SECRET=netns-bench-secret-0123456789abcdefghijk
export SHOAL_CACHE=$TMP/cache
MODEL=${SHOAL_BENCH_MODEL:-$TMP/model.gguf}
if [[ -z ${SHOAL_BENCH_MODEL:-} ]]; then
  "$SHOAL" gen-model -o "$MODEL" --n-embd 512 --n-layer 4 --n-head 8 --n-head-kv 2 \
    --n-ff 1536 --n-ctx 8192 --type f16 --seed 13 >/dev/null
fi
max_ctx=0
for c in $CONTEXTS; do ((c > max_ctx)) && max_ctx=$c; done
ctx=$((max_ctx + MAX_TOKENS + 64))
worker_start 2
worker_start 3
serve_start "$TMP/serve.log" -m "$MODEL" -c "$ctx" --parallel 2 --nodes "$NET.2:7700,$NET.3:7700" \
    --rebalance-margin -1
LOG=$TMP/serve.log
die() { echo "bench: $*" >&2; sed 's/^[0-9.]* //' "$LOG" | tail -20 >&2; exit 1; }
h1() { ip netns exec "${TAG}h1" "$@"; }

: >"$TMP/runs.tsv"
for c in $CONTEXTS; do
  h1 node "$HERE/stream.mjs" "$URL" "$c" "$MAX_TOKENS" - "$TMP/ref-$c.json"  # uninterrupted
  for fault in kill stop; do
    [[ $fault == stop && $c != 1024 ]] && continue  # detection by heartbeat: one context
    for ((r = 0; r < RUNS; ++r)); do
      out=$TMP/run-$fault-$c-$r.json
      rm -f "$TMP/started"
      h1 node "$HERE/stream.mjs" "$URL" "$c" "$MAX_TOKENS" "$TMP/started" "$out" &
      cpid=$!
      for ((i = 0; i < 2400; ++i)); do [[ -e $TMP/started ]] && break; sleep 0.05; done
      [[ -e $TMP/started ]] || die "the request did not start"
      T=$(now)
      if [[ $fault == kill ]]; then worker_signal 3 KILL; else worker_signal 3 STOP; fi
      wait "$cpid" || die "the streamed request failed"
      d=$(wait_line "$LOG" "$T" "a step failed|lost:|ending job" 10)
      line=$(awk -v s="$T" '$1 > s && /the pool runs job/ { print; exit }' "$LOG")
      [[ -n $d && -n $line ]] || die "no failure or re-form in the log after the fault"
      # The fault must have hit the request: it has tokens after the re-form.
      node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        process.exit(o.chunks.some((x) => x > Number(process.argv[2]) * 1000) ? 0 : 1)' \
        "$out" "${line%% *}" || die "the request ended before the fault"
      R=${line%% *}
      ms=$(sed -n 's/.* after \([0-9]*\) ms$/\1/p' <<<"$line")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fault" "$c" "$T" "$d" "$R" "$ms" "$out" \
        >>"$TMP/runs.tsv"
      # Bring host 3 back and wait until the pool has it again.
      B=$(now)
      if [[ $fault == kill ]]; then worker_start 3; else worker_signal 3 CONT; fi
      [[ -n $(wait_line "$LOG" "$B" "runs job [0-9]+ on 2 workers" 30) ]] ||
        die "host 3 did not rejoin"
    done
  done
done
commit=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
node "$HERE/summarize.mjs" "$TMP/runs.tsv" "$TMP" "$MAX_TOKENS" "$commit" "$(nproc)" \
  "$(basename "$MODEL")" "$THREADS"
