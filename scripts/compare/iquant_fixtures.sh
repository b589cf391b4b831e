#!/usr/bin/env bash
# Regenerates src/kernels/testdata/iquants_ggml.bin (i-quant / MXFP4 blocks and ggml's
# dequantization of them), src/kernels/testdata/iquants_ggml_dot.bin (weight rows, activations
# quantized by ggml, and ggml's vec_dot of them) and src/kernels/iquant_grids.cc (the codebooks) from llama.cpp as
# shipped in the npm package node-llama-cpp (a git bundle). Needs cmake, a C compiler, npm,
# python3. Not on CI's path: the outputs are committed.
#   scripts/compare/iquant_fixtures.sh [WORK_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/shoal-iquant-ref}
mkdir -p "$work" && cd "$work"
if [[ ! -d llama.cpp ]]; then
  npm pack node-llama-cpp >/dev/null
  tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle
  git clone -q package/llama/gitRelease.bundle llama.cpp
fi
cmake -S llama.cpp -B llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DGGML_OPENMP=OFF >/dev/null
cmake --build llama.cpp/build --target ggml-base ggml-cpu >/dev/null
cc -O1 -I llama.cpp/ggml/include "$repo/scripts/compare/iquant_fixtures.c" \
  llama.cpp/build/ggml/src/libggml-base.a -lstdc++ -lm -lpthread -o iquant_fixtures
cc -O1 -I llama.cpp/ggml/include "$repo/scripts/compare/iquant_dot_fixtures.c" \
  llama.cpp/build/ggml/src/libggml-cpu.a llama.cpp/build/ggml/src/libggml-base.a \
  -lstdc++ -lm -lpthread -o iquant_dot_fixtures
mkdir -p "$repo/src/kernels/testdata"
./iquant_fixtures "$repo/src/kernels/testdata/iquants_ggml.bin"
./iquant_dot_fixtures "$repo/src/kernels/testdata/iquants_ggml_dot.bin"
python3 "$repo/scripts/compare/gen_iquant_grids.py" llama.cpp > "$repo/src/kernels/iquant_grids.cc"
echo "llama.cpp $(git -C llama.cpp rev-parse --short HEAD): wrote the fixture and the grids"
