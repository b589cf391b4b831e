#!/usr/bin/env bash
# Sets everything up, builds, and runs every test (unit, integration, tokenizer references,
# bounded fuzzing). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [[ -f tests/tokenizer/package.json ]]; then
  (cd tests/tokenizer && npm ci --no-audit --no-fund --silent)
fi
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
