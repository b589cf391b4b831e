#!/usr/bin/env bash
# End-to-end logits on every Highway target against a reference build (docs/testing.md).
#
#   logits_check.sh prepare DIR SHOAL
#     With SHOAL (the native shoal), writes the test models (`shoal gen-model`) and each one's
#     reference logits of PROMPT_IDS (`shoal logits -t 1`) into DIR.
#   logits_check.sh check DIR TARGETS CHECKER...
#     Runs CHECKER (a shoal_target_logits command, e.g. `qemu-aarch64-static -cpu max ...
#     build-arm64/bin/shoal_target_logits`) on each model of DIR, one thread: each target of
#     TARGETS (e.g. "SVE2_128,SVE2,SVE,NEON", each must be supported; "": every supported and
#     compiled target) within the model's bound of the reference.
#   logits_check.sh selftest DIR CHECKER...
#     After prepare: a moved logit and bad reference files must make CHECKER fail.
set -euo pipefail

# 11 ids (all below the built-in vocabulary's 658): a one-batch prompt of two 4-token tiles and
# three single tokens, so the matmuls' prefill tiles and their one-token tails both run.
PROMPT_IDS=655,72,101,108,108,111,417,44,258,429,433

# name | gen-model flags | bound on max |logit - reference| / sd(reference logits).
# Float weights keep f32 activations: only summation order and FMA contraction differ between
# ISAs (~1e-6 relative per dot), plus a KV value on an f16 rounding boundary rounding the other
# way (one f16 ulp, 5e-4 relative, in one element): 1e-3 (measured: at most 7e-5). Quantized
# weights meet activations quantized to 8-bit blocks, where an ulp of difference before the
# rounding can move one int8 value by a step (1/127 of its block's largest value); through two
# layers that reaches a few 1e-2 of the spread (measured: 0.036 between x86's AVX2 and AVX3 paths
# on q4_k_m): 0.1, the golden test's bound for q8_0 activations, far below the O(1) error of a
# wrong kernel.
MODELS=(
  "llama-f32|--arch llama --type f32|1e-3"
  "llama-f16|--arch llama --type f16|1e-3"
  "qwen3-bf16|--arch qwen3 --type bf16|1e-3"
  "llama-q8_0|--arch llama --type q8_0|0.1"
  "llama-q4_0|--arch llama --type q4_0|0.1"
  "qwen2-q5_1|--arch qwen2 --type q5_1|0.1"
  "llama-q4_k_m|--arch llama --type q4_k_m|0.1"
  "qwen3-q3_k|--arch qwen3 --type q3_k|0.1"
  "llama-iq4_xs|--arch llama --type iq4_xs|0.1"
  "llama-iq4_nl|--arch llama --type iq4_nl --tied|0.1"
  "deepseek2-q8_0|--arch deepseek2 --type q8_0|0.1"
)

usage() {
  sed -n '2,14p' "$0" >&2
  exit 2
}

prepare() {
  local dir=$1 shoal=$2
  mkdir -p "$dir"
  for m in "${MODELS[@]}"; do
    IFS='|' read -r name flags _ <<<"$m"
    # shellcheck disable=SC2086  # flags are words
    "$shoal" gen-model -o "$dir/$name.gguf" $flags --seed 7 >/dev/null 2>&1 ||
      { echo "logits_check: shoal gen-model $flags failed" >&2; return 1; }
    "$shoal" logits -m "$dir/$name.gguf" --ids "$PROMPT_IDS" -t 1 -o "$dir/$name.logits" \
      2>/dev/null || { echo "logits_check: shoal logits on $name failed" >&2; return 1; }
  done
}

check() {
  local dir=$1 targets=$2
  shift 2
  local failed=0
  for m in "${MODELS[@]}"; do
    IFS='|' read -r name _ bound <<<"$m"
    "$@" --model "$dir/$name.gguf" --ids "$PROMPT_IDS" --ref "$dir/$name.logits" \
      --max-sd "$bound" --targets "$targets" || failed=1
  done
  return $failed
}

# The check must be able to fail: a reference with one logit moved by the logits' spread is
# refused (status 1) on every target, and a missing or truncated reference is bad input (2).
selftest() {
  local dir=$1
  shift
  local m=llama-q8_0 rc=0
  python3 - "$dir/$m.logits" "$dir/moved.logits" "$dir/short.logits" <<'PY'
import array, statistics, sys
v = array.array("f", open(sys.argv[1], "rb").read())
sd = statistics.pstdev(v)
moved = array.array("f", v)
moved[len(v) // 2] += sd
open(sys.argv[2], "wb").write(moved.tobytes())
open(sys.argv[3], "wb").write(v[:-1].tobytes())
PY
  for ref in moved.logits:1 short.logits:2 missing.logits:2; do
    rc=0
    "$@" --model "$dir/$m.gguf" --ids "$PROMPT_IDS" --ref "$dir/${ref%:*}" --max-sd 0.1 \
      >/dev/null 2>&1 || rc=$?
    if [[ $rc != "${ref#*:}" ]]; then
      echo "logits_check: $ref gave status $rc, want ${ref#*:}" >&2
      return 1
    fi
  done
  echo "logits_check: a moved logit and bad references are refused"
}

(($# >= 3)) || usage
case $1 in
  prepare) prepare "$2" "$3" ;;
  check) shift; check "$@" ;;
  selftest) shift; selftest "$@" ;;
  *) usage ;;
esac
