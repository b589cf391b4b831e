#!/usr/bin/env bash
# Faults under load (issue 11): 4 hosts in network namespaces on a bridge (10.78.0.1-4/24, made
# and removed here), `shoal serve --nodes` on host 1 and `shoal worker` on hosts 2-4 (host 4 not
# running at first). 8 clients send completion requests (greedy and seeded temperature > 0)
# without pause while, in turn: host 4's worker starts late; host 3's worker is killed (-9) and
# later started again; host 2's is killed and restarted at once; host 4's is stopped (SIGSTOP)
# and continued; host 2's link goes down and up. Every request must end with HTTP 200 and the
# text of the same request on an uninterrupted one-node server, and each fault must have caught
# requests in flight. For each fault the time to detect (fault -> the first log line naming it)
# and to resume (fault -> "the pool runs job") is printed. Then `shoal run --nodes` on its own:
# a worker killed mid-generation, the same tokens as one node.
set -euo pipefail
SHOAL=${1:?shoal binary}
TMP=${2:?scratch dir}
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=f$$
NET=10.78.0
# shellcheck source=pool_lib.sh
source "$HERE/pool_lib.sh"
if ! command -v node >/dev/null; then echo "SKIP: no node"; exit 77; fi
pool_need_root
trap pool_cleanup EXIT
pool_hosts 4
rm -rf "$TMP" && mkdir -p "$TMP"
export SHOAL_SECRET=netns-failover-secret-0123456789abcdefgh
export SHOAL_CACHE=$TMP/cache
MODEL=$TMP/model.gguf
# f16: the number of nodes does not change greedy tokens (q8_0 can flip near-ties).
"$SHOAL" gen-model -o "$MODEL" --n-embd 512 --n-layer 4 --n-head 8 --n-head-kv 2 --n-ff 1536 \
  --type f16 --seed 11 >/dev/null
CLIENT=$HERE/pool_client.mjs
ctx=(-c 1024)

# The reference: the same requests on one node, nothing interrupted.
serve_start "$TMP/serve-one.log" -m "$MODEL" "${ctx[@]}"
ip netns exec "${TAG}h1" node "$CLIENT" reference "$URL" "$TMP/ref.json"
serve_stop

W=$NET.2:7700,$NET.3:7700,$NET.4:7700
worker_start 2
worker_start 3
# Every returning node is taken back (the margin rule has its own test): the faults that follow
# start from a whole pool.
serve_start "$TMP/serve.log" -m "$MODEL" "${ctx[@]}" --nodes "$W" --rebalance-margin -1
LOG=$TMP/serve.log
ip netns exec "${TAG}h1" node "$CLIENT" stream "$URL" "$TMP/ref.json" 8 "$TMP/stop" \
  "$TMP/records.jsonl" >"$TMP/client.json" 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
sleep 1

FAULTS=()  # "name t_fault t_detect t_resume"
fail() {
  echo "FAIL: $*"
  sed 's/^[0-9.]* //' "$LOG" | tail -40
  exit 1
}
# fault NAME DETECT_REGEX RESUME_REGEX [FULL_REGEX]: times the fault just made (at $T); FULL:
# the pool is whole again (after a restart).
fault() {
  local d r f=
  d=$(wait_line "$LOG" "$T" "$2" 20)
  r=$(wait_line "$LOG" "$T" "$3" 20)
  [[ -n $d ]] || fail "$1: nothing in the log matched /$2/"
  [[ -n $r ]] || fail "$1: the pool did not resume (/$3/)"
  if [[ -n ${4:-} ]]; then
    f=$(wait_line "$LOG" "$T" "$4" 20)
    [[ -n $f ]] || fail "$1: the pool did not take the node back (/$4/)"
    f="  whole again $(ms_between "$T" "$f") ms"
  fi
  FAULTS+=("$1|$T|$d|$r")
  printf '%-16s detect %5s ms  resume %5s ms%s\n' "$1" "$(ms_between "$T" "$d")" \
    "$(ms_between "$T" "$r")" "$f"
  sleep 1  # requests run on the re-formed pool before the next fault
}
on() { printf 'the pool runs job [0-9]+ on %s workers' "$1"; }
h() { printf '%s' "$NET.$1:7700"; }

T=$(now); worker_start 4
fault "new worker" "node $(h 4) alive" "$(on 3)"
T=$(now); worker_signal 3 KILL
fault "kill -9" "a step failed|node $(h 3) lost|ending job" "$(on 2)"
T=$(now); worker_start 3
fault "killed one back" "node $(h 3) alive" "$(on 3)"
T=$(now); worker_signal 2 KILL; worker_start 2
fault "restart" "a step failed|node $(h 2) (lost|alive)|ending job" "the pool runs job" "$(on 3)"
T=$(now); worker_signal 4 STOP
fault "SIGSTOP" "node $(h 4) lost" "$(on 2)"
T=$(now); worker_signal 4 CONT
fault "SIGCONT" "node $(h 4) alive" "$(on 3)"
T=$(now); link_set 2 down
fault "link down" "node $(h 2) lost" "$(on 2)"
T=$(now); link_set 2 up
fault "link up" "node $(h 2) alive" "$(on 3)"

touch "$TMP/stop"
client_rc=0
wait "$CLIENT_PID" || client_rc=$?
cat "$TMP/client.json"
[[ $client_rc -eq 0 ]] || fail "a request failed or differs from the one-node answer"
# Each fault (but the late join) caught requests in flight: started before it, ended after.
for f in "${FAULTS[@]}"; do
  IFS='|' read -r name t _ _ <<<"$f"
  [[ $name == "new worker" ]] && continue
  n=$(node -e 'const t = Number(process.argv[1]) * 1000; let n = 0;
    for (const l of require("fs").readFileSync(process.argv[2], "utf8").split("\n")) {
      if (!l) continue; const r = JSON.parse(l); if (r.t0 < t && r.t1 > t) ++n; }
    console.log(n)' "$t" "$TMP/records.jsonl")
  echo "$name: $n requests in flight"
  [[ $n -gt 0 ]] || fail "no request was in flight at '$name'"
done
serve_stop

# `shoal run --nodes` on its own: host 3's worker killed mid-generation.
tokens() { sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p'; }
run_args=(-m "$MODEL" -p "The pool of four hosts" -n 1500 --ignore-eos --temp 0 -t 1 --json -c 2048)
ONE=$(ip netns exec "${TAG}h1" "$SHOAL" run "${run_args[@]}" | tokens)
ip netns exec "${TAG}h1" "$SHOAL" run "${run_args[@]}" --nodes "$W" >"$TMP/run.json" \
  2> >(stamp >"$TMP/run.log") &
RUN_PID=$!
sleep "${SHOAL_FAILOVER_KILL_AFTER:-1.5}"
T=$(now); worker_signal 3 KILL
wait "$RUN_PID" || fail "shoal run --nodes failed: $(cat "$TMP/run.log")"
POOL=$(tokens <"$TMP/run.json")
LOG=$TMP/run.log
r=$(wait_line "$LOG" "$T" "the pool runs job" 1)
[[ -n $r ]] || fail "the worker was not killed mid-generation (no re-form in the log)"
echo "run --nodes: resumed $(ms_between "$T" "$r") ms after the kill"
if [[ -z $ONE || $ONE != "$POOL" ]]; then fail "shoal run --nodes: tokens differ from one node"; fi
echo "run --nodes: $(tr ',' '\n' <<<"$POOL" | wc -l) tokens, the same as one node"
echo "PASS"
