#!/usr/bin/env bash
# A restarted rank 0 (issue 11): how long a new rank 0 takes to form a pool from running workers
# and answer, when the workers kept their weights from the last job against when they load them
# again (`shoal worker --release-weights`). Two workers on 127.0.0.1, T threads each; every run is
# a new `shoal run --nodes A,B -n 1` process (rank 0 loads its own slices each time). The first
# run of each mode loads everywhere and is reported apart. Prints one JSON document: per mode the
# wall seconds of every run and the median of runs 2..N, and release / keep.
#   bench/failover/restart_bench.sh build/bin/shoal /tmp/restart-bench [MODEL.gguf]
# Without MODEL, the ~1B q4_0 model `shoal bench` uses (generated into the scratch dir when absent).
# SHOAL_BENCH_RUNS (default 5), SHOAL_BENCH_THREADS (per process, default 1).
set -euo pipefail
SHOAL=$(realpath "${1:?shoal binary}")
TMP=${2:?scratch dir}
MODEL=${3:-}
RUNS=${SHOAL_BENCH_RUNS:-5}
THREADS=${SHOAL_BENCH_THREADS:-1}
mkdir -p "$TMP"
if [ -z "$MODEL" ]; then
  MODEL=$TMP/1b-q4_0.gguf
  [ -f "$MODEL" ] || "$SHOAL" gen-model -o "$MODEL" --preset 1b --type q4_0 --seed 1 >&2
fi
export SHOAL_SECRET=${SHOAL_SECRET:-restart-bench-secret-0123456789abcdefgh}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
address() {  # the address a worker announced on its stderr
  for _ in $(seq 100); do
    a=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$1" | head -1 | cut -d' ' -f3)
    [ -n "$a" ] && { echo "$a"; return; }
    sleep 0.1
  done
  echo "no address in $1" >&2
  exit 1
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
json="{\"shoal\": \"$("$SHOAL" --version)\", \"model\": \"$(basename "$MODEL")\", \"threads\": $THREADS, \"runs\": $RUNS"
for mode in keep release; do
  flag=()
  [ "$mode" = release ] && flag=(--release-weights)
  "$SHOAL" worker --listen 127.0.0.1:0 -t "$THREADS" "${flag[@]}" 2>"$TMP/w1-$mode.err" &
  pids+=($!)
  "$SHOAL" worker --listen 127.0.0.1:0 -t "$THREADS" "${flag[@]}" 2>"$TMP/w2-$mode.err" &
  pids+=($!)
  a=$(address "$TMP/w1-$mode.err")
  b=$(address "$TMP/w2-$mode.err")
  walls=()
  for i in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    "$SHOAL" run -m "$MODEL" -p hi -n 1 -t "$THREADS" --nodes "$a,$b" >/dev/null 2>"$TMP/run-$mode-$i.err"
    t1=$(date +%s.%N)
    walls+=("$(printf '%.3f' "$(echo "$t1 - $t0" | bc -l)")")
  done
  kept=$(grep -c "keeping this node's weights" "$TMP/w1-$mode.err" || true)
  med=$(printf '%s\n' "${walls[@]:1}" | median)
  eval "med_$mode=$med"
  json+=", \"$mode\": {\"wall_s\": [$(IFS=,; echo "${walls[*]}")], \"median_after_first_s\": $med, \"worker_kept_weights\": $kept}"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
done
json+=", \"release_over_keep\": $(printf '%.2f' "$(echo "$med_release / $med_keep" | bc -l)")}"
echo "$json"
