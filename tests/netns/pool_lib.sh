# shellcheck shell=bash
# Shared by failover_test.sh, soak_failover.sh and bench/failover: a pool of hosts in network
# namespaces (made and removed here; addresses exist only inside them), workers started and
# faulted by host number, and `shoal serve` on host 1 whose stderr lines are stamped with the
# wall clock (seconds, microseconds) as they arrive, so a test can time what the pool logs.
# Source it after setting SHOAL (binary), TMP (scratch dir), TAG (unique prefix) and NET (the
# first three octets, e.g. 10.78.0).

declare -A WPID=()  # host -> worker pid
PIDS=()             # everything started here, ended by pool_cleanup

pool_need_root() {
  if [[ $(id -u) -ne 0 ]]; then echo "SKIP: network namespaces need root"; exit 77; fi
  if ! command -v ip >/dev/null; then echo "SKIP: no ip (iproute2)"; exit 77; fi
  if ! ip netns add "${TAG}br" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here"; exit 77
  fi
}

# pool_hosts N: hosts 1..N on a bridge, host i at $NET.i/24 on veth ${TAG}v$i.
pool_hosts() {
  ip -n "${TAG}br" link add br0 type bridge
  ip -n "${TAG}br" link set br0 up
  local i ns
  for ((i = 1; i <= $1; ++i)); do
    ns=${TAG}h$i
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "${TAG}v$i" netns "$ns" type veth peer name "${TAG}p$i" netns "${TAG}br"
    ip -n "$ns" addr add "$NET.$i/24" dev "${TAG}v$i"
    ip -n "$ns" link set "${TAG}v$i" up
    ip -n "${TAG}br" link set "${TAG}p$i" master br0
    ip -n "${TAG}br" link set "${TAG}p$i" up
  done
  POOL_N=$1
}

pool_cleanup() {
  local p i
  for p in "${PIDS[@]}" "${WPID[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}" "${WPID[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ((i = 1; i <= ${POOL_N:-0}; ++i)); do ip netns del "${TAG}h$i" 2>/dev/null || true; done
  ip netns del "${TAG}br" 2>/dev/null || true
}

# Prefixes each line of stdin with the wall clock when it arrived.
stamp() {
  local l
  while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

now() { printf '%s' "$EPOCHREALTIME"; }

# worker_start HOST [extra args]: `shoal worker` on $NET.HOST:7700 in that host's namespace
# (-t $WORKER_THREADS, default 1; serve_start uses the same).
worker_start() {
  local h=$1
  shift
  ip netns exec "${TAG}h$h" "$SHOAL" worker --listen "$NET.$h:7700" \
    -t "${WORKER_THREADS:-1}" "$@" >>"$TMP/worker$h.log" 2>&1 &
  WPID[$h]=$!  # ip netns exec execs the command: this is the worker itself
}

worker_signal() {  # worker_signal HOST SIGNAL
  kill "-$2" "${WPID[$1]}"
  if [[ $2 == KILL || $2 == TERM ]]; then
    wait "${WPID[$1]}" 2>/dev/null || true
    unset "WPID[$1]"
  fi
}

link_set() { ip -n "${TAG}h$1" link set "${TAG}v$1" "$2"; }  # link_set HOST up|down

# serve_start LOG args...: `shoal serve --port 0` on host 1; sets SERVE_PID and URL.
serve_start() {
  local log=$1
  shift
  : >"$log"
  ip netns exec "${TAG}h1" "$SHOAL" serve --port 0 -t "${WORKER_THREADS:-1}" "$@" 2> >(stamp >>"$log") &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  local i port=
  for ((i = 0; i < 600; ++i)); do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then echo "FAIL: serve exited"; cat "$log"; exit 1; fi
    sleep 0.1
  done
  if [[ -z $port ]]; then echo "FAIL: serve did not listen"; cat "$log"; exit 1; fi
  # shellcheck disable=SC2034 # for the sourcing script
  URL=http://127.0.0.1:$port
}

serve_stop() {
  kill "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
}

# wait_line LOG SINCE REGEX TIMEOUT_S: the stamp of the first line of LOG stamped after SINCE
# that matches REGEX (extended), waiting up to TIMEOUT_S; empty when none came.
wait_line() {
  local log=$1 since=$2 re=$3 until=$((SECONDS + $4)) t
  while :; do
    t=$(awk -v s="$since" -v re="$re" '$1 > s && $0 ~ re { print $1; exit }' "$log")
    if [[ -n $t || $SECONDS -ge $until ]]; then
      printf '%s' "$t"
      return 0
    fi
    sleep 0.05
  done
}

ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

# Processes living in a host's namespace.
ns_pids() { ip netns pids "${TAG}h$1" 2>/dev/null | wc -l; }
