#!/usr/bin/env bash
# Cross-builds shoal's kernel tests and the per-target logits check for aarch64 (Debian's
# g++-aarch64-linux-gnu, the arm64 libraries through multiarch, cmake/aarch64-linux-gnu.cmake)
# into build-arm64/, and runs them under qemu-aarch64-static on every Highway ARM target: SVE2_128,
# SVE_256, SVE2, SVE and NEON, at SVE vector lengths of 128, 256 and 512 bits. The logits are
# compared with the native build's `shoal logits` of the same generated models, so run it after
# scripts/setup.sh (scripts/test.sh does; SHOAL_ARM64=0 skips it there). Everything runs on one
# thread (qemu-user has hung on spin-waits between two threads; docs/testing.md says more).
# Variables: BUILD_DIR (the native build, default build), ARM64_BUILD_DIR (default build-arm64),
# SHOAL_ARM64_CMAKE_ARGS (extra cmake arguments for the cross build, e.g. a ccache launcher).
set -euo pipefail
cd "$(dirname "$0")/.."

NATIVE_DIR=${BUILD_DIR:-build}
ARM_DIR=${ARM64_BUILD_DIR:-build-arm64}
SHOAL=$NATIVE_DIR/bin/shoal
[[ -x $SHOAL ]] || { echo "cross_arm64: $SHOAL is missing: run scripts/setup.sh first" >&2; exit 1; }

# The arm64 packages must have the same versions as the host's (Multi-Arch: same), so they are
# installed from the same apt lists; the host packages this pulls along are only upgrades.
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
PKGS=(g++-aarch64-linux-gnu qemu-user-static libhwy-dev:arm64 libgtest-dev:arm64 libpcre2-dev:arm64
      libxxhash-dev:arm64 libsodium-dev:arm64 libcpp-httplib-dev:arm64)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cross_arm64: installing ${missing[*]}"
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64)

start=$SECONDS
# shellcheck disable=SC2086  # SHOAL_ARM64_CMAKE_ARGS is a list of words
cmake -S . -B "$ARM_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" ${SHOAL_ARM64_CMAKE_ARGS:-} >/dev/null
cmake --build "$ARM_DIR" -j "$(nproc)" --target shoal_kernels_test shoal_target_logits
echo "cross_arm64: built in $((SECONDS - start)) s"

models=$ARM_DIR/logits
bash tests/targets/logits_check.sh prepare "$models" "$SHOAL"

# qemu -cpu max has SVE2 (and so SVE and NEON); sve-default-vector-length is in bytes. Highway
# adds SVE2_128 at 128 bits and SVE_256 at 256 bits. cpu | targets the kernel tests must run
# (they run every target Highway reports) | targets of the logits check (NEON, whose code does
# not depend on the SVE length, once).
CONFIGS=(
  "max,sve-default-vector-length=16|SVE2_128,SVE2,SVE,NEON|SVE2_128,SVE2,SVE,NEON"
  "max,sve-default-vector-length=32|SVE_256,SVE2,SVE,NEON|SVE_256,SVE2,SVE"
  "max,sve-default-vector-length=64|SVE2,SVE,NEON|SVE2,SVE"
)
failed=0
for c in "${CONFIGS[@]}"; do
  IFS='|' read -r cpu expect logit_targets <<<"$c"
  echo "cross_arm64: qemu -cpu $cpu (targets $expect)"
  t0=$SECONDS
  log=$ARM_DIR/kernels_test.log
  if ! SHOAL_SOURCE_DIR=$PWD timeout 600 "$QEMU" -cpu "$cpu" "$ARM_DIR/bin/shoal_kernels_test" \
      --gtest_brief=1 >"$log" 2>&1; then
    cat "$log"
    echo "cross_arm64: kernel tests FAILED under -cpu $cpu" >&2
    failed=1
  fi
  tested=$(sed -n 's/^Highway targets under test: //p' "$log")
  for t in ${expect//,/ }; do
    [[ " $tested " == *" $t "* ]] ||
      { echo "cross_arm64: kernel tests did not run $t (ran: $tested)" >&2; failed=1; }
  done
  grep -E '^\[  (PASSED|FAILED)' "$log" || true
  # One JSON line per model and target in $ARM_DIR/logits_*.jsonl; the failures are shown.
  out=$ARM_DIR/logits_${cpu//[^a-z0-9]/_}.jsonl
  if ! timeout 600 bash tests/targets/logits_check.sh check "$models" "$logit_targets" \
      "$QEMU" -cpu "$cpu" "$ARM_DIR/bin/shoal_target_logits" >"$out"; then
    grep -v '"ok":true' "$out" || true
    echo "cross_arm64: logits check FAILED under -cpu $cpu" >&2
    failed=1
  fi
  echo "cross_arm64: logits within bounds of x86's: $(grep -c '"ok":true' "$out") model x target"
  echo "cross_arm64: -cpu $cpu took $((SECONDS - t0)) s"
done
echo "cross_arm64: $((SECONDS - start)) s in all"
exit $failed
