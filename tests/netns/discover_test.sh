#!/usr/bin/env bash
# Discovery by real multicast (docs/wire-protocol.md, "Discovery"): 3 hosts in network namespaces
# joined by a bridge (10.78.0.1-3/24, addresses that exist only inside namespaces this script
# creates and deletes; no default route, so the announcer picks the interface itself). Hosts 2 and
# 3 run `shoal worker --announce` (host 3 listening on the wildcard: its address comes from the
# datagram, and it also announces by unicast to host 1); host 2 also runs a worker with another
# secret. `shoal discover --json` on host 1 must list exactly the two workers of our secret, with
# this binary's version and host 2's model identity (and have dropped the other's datagrams); the
# unicast listener exactly host 3; a second listener on host 1 the same two; and a pooled run over
# the addresses found gives the tokens of one node. Root only; skipped otherwise.
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
MODEL=$TMP/discover-model.gguf
"$SHOAL" gen-model -o "$MODEL" --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 \
  --type q8_0 --seed 7 >/dev/null 2>&1
MODEL_ID=$("$SHOAL" id "$MODEL" 2>/dev/null | cut -d' ' -f1)
# Host 2 holds the model (its identity is announced); host 3 listens on the wildcard and also
# announces by unicast to host 1.
ip netns exec "${TAG}h2" "$SHOAL" worker --listen 10.78.0.2:7700 --announce -t 1 -m "$MODEL" \
  --announce-interval-ms 300 >"$TMP/worker2.log" 2>&1 &
PIDS+=($!)
ip netns exec "${TAG}h3" "$SHOAL" worker --listen 0.0.0.0:7700 --announce -t 1 \
  --announce-to 10.78.0.1:7799 --announce-interval-ms 300 >"$TMP/worker3.log" 2>&1 &
PIDS+=($!)
SHOAL_SECRET=another-pools-secret-0123456789abcdefghijk ip netns exec "${TAG}h2" "$SHOAL" worker \
  --listen 10.78.0.2:7701 --announce -t 1 --announce-interval-ms 300 >"$TMP/worker-other.log" 2>&1 &
PIDS+=($!)

ip netns exec "${TAG}h1" "$SHOAL" discover --group '' --listen 10.78.0.1:7799 --seconds 3 --json \
  >"$TMP/unicast.json" &
UNICAST_PID=$!
# A second listener on the same host and group hears the same workers.
ip netns exec "${TAG}h1" "$SHOAL" discover --seconds 3 --json >"$TMP/second.json" &
SECOND_PID=$!
FOUND=$(ip netns exec "${TAG}h1" "$SHOAL" discover --seconds 3 --json)
wait "$UNICAST_PID" "$SECOND_PID"
UNICAST=$(cat "$TMP/unicast.json")
echo "found by multicast: $FOUND"
echo "found by unicast  : $UNICAST"
for f in worker2 worker3 worker-other; do echo "--- $f"; cat "$TMP/$f.log"; done
if ! grep -q "no route for 239.255.77.77:7788; announcing on interface 10.78.0.2" \
    "$TMP/worker2.log"; then
  echo "FAIL: worker 2 did not say which interface it announces on"; exit 1
fi
VERSION=$("$SHOAL" --version | sed 's/^shoal //')
UNICAST="$UNICAST" SECOND="$(cat "$TMP/second.json")" python3 - <<'PY'
import json, os, sys
d = json.loads(os.environ["UNICAST"])
addrs = [n["address"] for n in d["nodes"]]
if addrs != ["10.78.0.3:7700"]:
    sys.exit(f"FAIL: by unicast found {addrs}, want exactly ['10.78.0.3:7700']")
second = sorted(n["address"] for n in json.loads(os.environ["SECOND"])["nodes"])
if second != ["10.78.0.2:7700", "10.78.0.3:7700"]:
    sys.exit(f"FAIL: the second listener on host 1 found {second}")
PY
NODES=$(FOUND="$FOUND" VERSION="$VERSION" MODEL_ID="$MODEL_ID" python3 - <<'PY'
import json, os, sys
d = json.loads(os.environ["FOUND"])
addrs = sorted(n["address"] for n in d["nodes"])
want = ["10.78.0.2:7700", "10.78.0.3:7700"]
if addrs != want:
    sys.exit(f"FAIL: found {addrs}, want exactly {want}")
if len({n["instance"] for n in d["nodes"]}) != 2:
    sys.exit("FAIL: the two workers share an instance id")
for n in d["nodes"]:
    if n["version"] != os.environ["VERSION"] or n["protocol"] != 3 or n["memory_bytes"] <= 0:
        sys.exit(f"FAIL: {n} does not say this binary's version, protocol 3 (comm::tcp::kProtocolVersion) and its memory")
models = {n["address"]: n["model_id"] for n in d["nodes"]}
if len(os.environ["MODEL_ID"]) != 32 or models != {"10.78.0.2:7700": os.environ["MODEL_ID"],
                                                    "10.78.0.3:7700": ""}:
    sys.exit(f"FAIL: model identities {models}, want host 2's to be {os.environ['MODEL_ID']}")
if d["dropped"] < 1 or "tag does not match" not in d["last_drop"]:
    sys.exit(f"FAIL: the other secret's announcements were not heard and dropped: {d}")
print(",".join(addrs))
PY
)
echo "nodes: $NODES"

# The addresses found are the workers' own: a pool over them gives the tokens of one node.
tokens() { sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p'; }
ONE=$("$SHOAL" run -m "$MODEL" -p "Found on the network" -n 12 --temp 0 -t 1 --json | tokens)
POOL=$(ip netns exec "${TAG}h1" "$SHOAL" run -m "$MODEL" -p "Found on the network" -n 12 --temp 0 \
  -t 1 --json --nodes "$NODES" | tokens)
echo "one node : $ONE"
echo "3 hosts  : $POOL"
if [[ -z "$ONE" || "$ONE" != "$POOL" ]]; then echo "FAIL: the pooled run differs"; exit 1; fi
echo "PASS"
