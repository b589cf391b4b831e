#!/usr/bin/env bash
# 4 hosts in network namespaces joined by a bridge (10.77.0.1-4/24, addresses that exist only
# inside namespaces this script creates and deletes): rank 0 on host 1, `shoal worker` on hosts
# 2-4. The pooled greedy run must produce the tokens of the same model on one node. A worker
# holding another model with the same tensor table (another seed) must not compute with it: it
# receives its shard from rank 0 and the tokens are again those of one node.
set -euo pipefail
SHOAL=${1:?shoal binary}
TMP=${2:?scratch dir}
if [[ $(id -u) -ne 0 ]]; then echo "SKIP: network namespaces need root"; exit 77; fi
if ! command -v ip >/dev/null; then echo "SKIP: no ip (iproute2)"; exit 77; fi
TAG=s$$
BR=${TAG}br
if ! ip netns add "$BR" 2>/dev/null; then echo "SKIP: cannot create network namespaces here"; exit 77; fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for i in 1 2 3 4; do ip netns del "${TAG}h$i" 2>/dev/null || true; done
  ip netns del "$BR" 2>/dev/null || true
}
trap cleanup EXIT
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for i in 1 2 3 4; do
  ns=${TAG}h$i
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "${TAG}v$i" netns "$ns" type veth peer name "${TAG}p$i" netns "$BR"
  ip -n "$ns" addr add "10.77.0.$i/24" dev "${TAG}v$i"
  ip -n "$ns" link set "${TAG}v$i" up
  ip -n "$BR" link set "${TAG}p$i" master br0
  ip -n "$BR" link set "${TAG}p$i" up
done

mkdir -p "$TMP"
MODEL=$TMP/netns-model.gguf
"$SHOAL" gen-model -o "$MODEL" --n-embd 256 --n-layer 2 --n-head 8 --n-head-kv 2 --n-ff 768 \
  --type q8_0 --seed 5 >/dev/null
OTHER=$TMP/netns-model-seed6.gguf
"$SHOAL" gen-model -o "$OTHER" --n-embd 256 --n-layer 2 --n-head 8 --n-head-kv 2 --n-ff 768 \
  --type q8_0 --seed 6 >/dev/null
export SHOAL_SECRET=netns-test-secret-0123456789abcdefghijk
export SHOAL_CACHE=$TMP/cache
for i in 2 3 4; do
  ip netns exec "${TAG}h$i" "$SHOAL" worker --listen "10.77.0.$i:7700" --once -t 1 \
    >"$TMP/worker$i.log" 2>&1 &
  PIDS+=($!)
done
tokens() { sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p'; }
ONE=$("$SHOAL" run -m "$MODEL" -p "The pool of four hosts" -n 24 --temp 0 -t 1 --json | tokens)
POOL=$(ip netns exec "${TAG}h1" "$SHOAL" run -m "$MODEL" -p "The pool of four hosts" -n 24 \
  --temp 0 -t 1 --json --nodes 10.77.0.2:7700,10.77.0.3:7700,10.77.0.4:7700 | tokens)
echo "one node : $ONE"
echo "4 hosts  : $POOL"
if [[ -z "$ONE" || "$ONE" != "$POOL" ]]; then
  echo "FAIL: the pooled run differs"; for i in 2 3 4; do cat "$TMP/worker$i.log"; done; exit 1
fi
# Host 3 holds the other seed's file: it refuses it, receives its shard, and the tokens match.
ip netns exec "${TAG}h3" "$SHOAL" worker --listen 10.77.0.3:7702 --once -t 1 -m "$OTHER" \
  --cache "$TMP/cache-h3" >"$TMP/worker-other.log" 2>&1 &
PIDS+=($!)
sleep 0.5
MIXED=$(ip netns exec "${TAG}h1" "$SHOAL" run -m "$MODEL" -p "The pool of four hosts" -n 24 \
  --temp 0 -t 1 --json --nodes 10.77.0.3:7702 | tokens)
echo "mismatch : $MIXED"
cat "$TMP/worker-other.log"
if [[ "$ONE" != "$MIXED" ]]; then echo "FAIL: a worker computed with another model"; exit 1; fi
WANT=$("$SHOAL" id "$MODEL" 2>/dev/null | cut -c1-12)
MINE=$("$SHOAL" id "$OTHER" 2>/dev/null | cut -c1-12)
if ! grep -q "$WANT" "$TMP/worker-other.log" || ! grep -q "$MINE" "$TMP/worker-other.log"; then
  echo "FAIL: the worker did not name both identities"; exit 1
fi
# A wrong secret is refused before anything moves.
ip netns exec "${TAG}h2" "$SHOAL" worker --listen 10.77.0.2:7701 --once -t 1 \
  >"$TMP/worker-secret.log" 2>&1 &
PIDS+=($!)
if SHOAL_SECRET=the-wrong-secret-0123456789abcdefghijk ip netns exec "${TAG}h1" "$SHOAL" run -m "$MODEL" \
    -p hi -n 2 --nodes 10.77.0.2:7701 --io-timeout-ms 3000 2>"$TMP/secret.err"; then
  echo "FAIL: a wrong secret was accepted"; exit 1
fi
cat "$TMP/secret.err"
echo "PASS"
