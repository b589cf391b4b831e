#!/usr/bin/env bash
# Sets everything up, builds, and runs every test (unit, integration, tokenizer references,
# bounded fuzzing, aarch64 under qemu). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for d in tests/tokenizer tests/template tests/server tests/dashboard; do
  if [[ -f $d/package.json ]]; then
    (cd "$d" && npm ci --no-audit --no-fund --silent)
  fi
done
# aarch64: the kernel tests and the per-target logits check, cross-built and run under qemu on
# every Highway ARM target (docs/testing.md). On by default (CI); SHOAL_ARM64=0 skips it.
if [[ ${SHOAL_ARM64:-1} != 0 ]]; then
  bash scripts/cross_arm64.sh
fi
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
