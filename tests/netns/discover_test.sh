#!/usr/bin/env bash
# Discovery by real multicast (docs/wire-protocol.md, "Discovery"): 3 hosts in network namespaces
# joined by a bridge (10.78.0.1-3/24, addresses that exist only inside namespaces this script
# creates and deletes; no default route, so the announcer picks the interface itself). Hosts 2 and
# 3 run `shoal worker --announce` (host 3 listening on the wildcard: its address comes from the
# datagram); host 2 also runs a worker with another secret. `shoal discover --json` on host 1 must
# list exactly the two workers of our secret (and have dropped the other's datagrams), and a pooled
# run over the addresses it found gives the tokens of one node. Root only; skipped otherwise.
set -euo pipefail
SHOAL=${1:?shoal binary}
TMP=${2:?scratch dir}
if [[ $(id -u) -ne 0 ]]; then echo "SKIP: network namespaces need root"; exit 77; fi
if ! command -v ip >/dev/null; then echo "SKIP: no ip (iproute2)"; exit 77; fi
if ! command -v python3 >/dev/null; then echo "SKIP: no python3"; exit 77; fi
TAG=d$$
BR=${TAG}br
if ! ip netns add "$BR" 2>/dev/null; then echo "SKIP: cannot create network namespaces here"; exit 77; fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for i in 1 2 3; do ip netns del "${TAG}h$i" 2>/dev/null || true; done
  ip netns del "$BR" 2>/dev/null || true
}
trap cleanup EXIT
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for i in 1 2 3; do
  ns=${TAG}h$i
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "${TAG}v$i" netns "$ns" type veth peer name "${TAG}p$i" netns "$BR"
  ip -n "$ns" addr add "10.78.0.$i/24" dev "${TAG}v$i"
  ip -n "$ns" link set "${TAG}v$i" up
  ip -n "$BR" link set "${TAG}p$i" master br0
  ip -n "$BR" link set "${TAG}p$i" up
done

mkdir -p "$TMP"
export SHOAL_SECRET=discover-netns-secret-0123456789abcdefghijk
export SHOAL_CACHE=$TMP/cache
ip netns exec "${TAG}h2" "$SHOAL" worker --listen 10.78.0.2:7700 --announce -t 1 \
  --announce-interval-ms 300 >"$TMP/worker2.log" 2>&1 &
PIDS+=($!)
ip netns exec "${TAG}h3" "$SHOAL" worker --listen 0.0.0.0:7700 --announce -t 1 \
  --announce-interval-ms 300 >"$TMP/worker3.log" 2>&1 &
PIDS+=($!)
SHOAL_SECRET=another-pools-secret-0123456789abcdefghijk ip netns exec "${TAG}h2" "$SHOAL" worker \
  --listen 10.78.0.2:7701 --announce -t 1 --announce-interval-ms 300 >"$TMP/worker-other.log" 2>&1 &
PIDS+=($!)

FOUND=$(ip netns exec "${TAG}h1" "$SHOAL" discover --seconds 3 --json)
echo "found: $FOUND"
for f in worker2 worker3 worker-other; do echo "--- $f"; cat "$TMP/$f.log"; done
VERSION=$("$SHOAL" --version | sed 's/^shoal //')
NODES=$(FOUND="$FOUND" VERSION="$VERSION" python3 - <<'PY'
import json, os, sys
d = json.loads(os.environ["FOUND"])
addrs = sorted(n["address"] for n in d["nodes"])
want = ["10.78.0.2:7700", "10.78.0.3:7700"]
if addrs != want:
    sys.exit(f"FAIL: found {addrs}, want exactly {want}")
if len({n["instance"] for n in d["nodes"]}) != 2:
    sys.exit("FAIL: the two workers share an instance id")
for n in d["nodes"]:
    if n["version"] != os.environ["VERSION"] or n["protocol"] != 2 or n["memory_bytes"] <= 0:
        sys.exit(f"FAIL: {n} does not say this binary's version, protocol 2 and its memory")
if d["dropped"] < 1 or "tag does not match" not in d["last_drop"]:
    sys.exit(f"FAIL: the other secret's announcements were not heard and dropped: {d}")
print(",".join(addrs))
PY
)
echo "nodes: $NODES"

# The addresses found are the workers' own: a pool over them gives the tokens of one node.
MODEL=$TMP/discover-model.gguf
"$SHOAL" gen-model -o "$MODEL" --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 \
  --type q8_0 --seed 7 >/dev/null
tokens() { sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p'; }
ONE=$("$SHOAL" run -m "$MODEL" -p "Found on the network" -n 12 --temp 0 -t 1 --json | tokens)
POOL=$(ip netns exec "${TAG}h1" "$SHOAL" run -m "$MODEL" -p "Found on the network" -n 12 --temp 0 \
  -t 1 --json --nodes "$NODES" | tokens)
echo "one node : $ONE"
echo "3 hosts  : $POOL"
if [[ -z "$ONE" || "$ONE" != "$POOL" ]]; then echo "FAIL: the pooled run differs"; exit 1; fi
echo "PASS"
