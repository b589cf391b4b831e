#!/usr/bin/env bash
# A bounded soak of a healing pool (issue 11): 4 hosts in network namespaces (10.79.0.1-4/24,
# made and removed here), `shoal serve --nodes` on host 1, workers on hosts 2-4, 8 clients
# sending requests without pause (pool_client.mjs: greedy and seeded temperature > 0) while every
# few seconds a random worker is killed (-9 or TERM) and started again (at once or up to 2 s
# later), for SHOAL_SOAK_S seconds (default 60; e.g. SHOAL_SOAK_S=600 for the long form).
# Passes when: no request failed and every answer is the one-node answer; the pool re-formed at
# least once per fault; at the end each host runs exactly its one shoal process (nothing leaked)
# and the pool is whole; rank 0's resident memory, threads and open files are flat (after the
# first fifth of the run: RSS at the end within 50% + 16 MiB of RSS then; threads and fds
# within a small margin). Prints a JSON summary.
set -euo pipefail
SHOAL=${1:?shoal binary}
TMP=${2:?scratch dir}
DURATION=${SHOAL_SOAK_S:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=k$$
NET=10.79.0
# shellcheck source=pool_lib.sh
source "$HERE/pool_lib.sh"
if ! command -v node >/dev/null; then echo "SKIP: no node"; exit 77; fi
pool_need_root
trap pool_cleanup EXIT
pool_hosts 4
rm -rf "$TMP" && mkdir -p "$TMP"
export SHOAL_SECRET=netns-soak-secret-0123456789abcdefghijkl
export SHOAL_CACHE=$TMP/cache
MODEL=$TMP/model.gguf
"$SHOAL" gen-model -o "$MODEL" --n-embd 512 --n-layer 4 --n-head 8 --n-head-kv 2 --n-ff 1536 \
  --type f16 --seed 12 >/dev/null
CLIENT=$HERE/pool_client.mjs
fail() {
  echo "FAIL: $*"
  sed 's/^[0-9.]* //' "$TMP/serve.log" 2>/dev/null | tail -30
  exit 1
}

serve_start "$TMP/serve-one.log" -m "$MODEL" -c 1024
ip netns exec "${TAG}h1" node "$CLIENT" reference "$URL" "$TMP/ref.json"
serve_stop

for h in 2 3 4; do worker_start "$h"; done
serve_start "$TMP/serve.log" -m "$MODEL" -c 1024 --nodes "$NET.2:7700,$NET.3:7700,$NET.4:7700" \
  --rebalance-margin -1
ip netns exec "${TAG}h1" node "$CLIENT" stream "$URL" "$TMP/ref.json" 8 "$TMP/stop" \
  "$TMP/records.jsonl" >"$TMP/client.json" 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")

# Rank 0's RSS (kB), threads and open files, once a second.
sample() {
  local rss thr fds
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVE_PID/status")
  thr=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVE_PID/status")
  fds=$(find "/proc/$SERVE_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "$SECONDS $rss $thr $fds" >>"$TMP/samples.txt"
}

RANDOM=7  # the same faults every run
start=$SECONDS
warm=$((start + DURATION / 5))
next_sample=$SECONDS
faults=0
while ((SECONDS - start < DURATION)); do
  h=$((2 + RANDOM % 3))
  if ((RANDOM % 2)); then sig=KILL; else sig=TERM; fi
  delay=$((RANDOM % 3))  # seconds down
  worker_signal "$h" "$sig"
  ((++faults))
  sleep "$delay"
  worker_start "$h"
  pause=$((2 + RANDOM % 3))
  for ((s = 0; s < pause; ++s)); do
    if ((SECONDS >= next_sample)); then sample; next_sample=$((SECONDS + 1)); fi
    sleep 1
  done
  [[ -e /proc/$SERVE_PID ]] || fail "rank 0 exited"
done
# The pool takes the last node back, then the clients stop.
sleep 4
touch "$TMP/stop"
client_rc=0
wait "$CLIENT_PID" || client_rc=$?
sample
[[ $client_rc -eq 0 ]] || { cat "$TMP/client.json"; fail "a request failed or gave another answer"; }

reforms=$(grep -c "the pool runs job" "$TMP/serve.log" || true)
last=$(grep "the pool runs job" "$TMP/serve.log" | tail -1 | sed 's/^[0-9.]* //')
((reforms >= faults)) || fail "$faults faults but only $reforms re-forms"
[[ $last == *"on 3 workers"* ]] || fail "the pool is not whole at the end: $last"
for h in 1 2 3 4; do
  n=$(ns_pids "$h")
  [[ $n -eq 1 ]] || { ip netns pids "${TAG}h$h" | xargs -r ps -o pid,args -p; fail "host $h runs $n processes (want 1)"; }
done
# Flat after the warm-up: the first sample past it against the last.
read -r rss0 thr0 fds0 < <(awk -v w="$((warm - start))" '$1 - '"$start"' >= w { print $2, $3, $4; exit }' "$TMP/samples.txt")
read -r rss1 thr1 fds1 < <(tail -1 "$TMP/samples.txt" | awk '{ print $2, $3, $4 }')
rssmax=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TMP/samples.txt")
rssfirst=$(head -1 "$TMP/samples.txt" | awk '{ print $2 }')
ok=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.ok)' "$TMP/client.json")
printf '{"seconds": %d, "faults": %d, "reforms": %d, "requests_ok": %d, "rss_kib": {"first": %d, "after_warmup": %d, "last": %d, "max": %d}, "threads": [%d, %d], "fds": [%d, %d]}\n' \
  "$((SECONDS - start))" "$faults" "$reforms" "$ok" "$rssfirst" "$rss0" "$rss1" "$rssmax" \
  "$thr0" "$thr1" "$fds0" "$fds1"
((rss1 <= rss0 * 3 / 2 + 16384)) || fail "rank 0's RSS grew from $rss0 to $rss1 kB"
((thr1 <= thr0 + 8)) || fail "rank 0's threads grew from $thr0 to $thr1"
((fds1 <= fds0 + 16)) || fail "rank 0's open files grew from $fds0 to $fds1"
echo "PASS"
