// Test helpers shared by the kernels tests: random data, valid random blocks, and a loop over
// every compiled Highway target.
#pragma once

#include <hwy/targets.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/quant.h"
#include "tensor/dtype.h"

namespace shoal::kernels::testing {

inline const std::vector<DType>& WeightTypes() {
  static const std::vector<DType> kTypes = {
      DType::kF32,  DType::kF16,    DType::kBF16,   DType::kQ8_0,   DType::kQ4_0, DType::kQ4_1,
      DType::kQ5_0, DType::kQ5_1,   DType::kQ2_K,   DType::kQ3_K,   DType::kQ4_K, DType::kQ5_K,
      DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kIQ2_XXS};
  return kTypes;
}

// Every type with kernels: the quantizable WeightTypes() and the types that are only read.
inline const std::vector<DType>& ComputeTypes() {
  static const std::vector<DType> kTypes = [] {
    std::vector<DType> v = WeightTypes();
    for (DType t : {DType::kMXFP4, DType::kIQ2_XS, DType::kIQ2_S, DType::kIQ3_XXS, DType::kIQ3_S,
                    DType::kIQ1_S, DType::kIQ1_M}) {
      v.push_back(t);
    }
    return v;
  }();
  return kTypes;
}

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Random bytes for n values of type t, with every f16 / f32 scale field set to a finite value of
// moderate size, so any bit pattern of the quants is exercised.
std::vector<uint8_t> RandomBlocks(DType t, int64_t n, uint32_t seed);

// Calls fn(target_name) once per compiled and supported Highway target, with dispatch forced to
// that target.
inline void ForEachTarget(const std::function<void(const std::string&)>& fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    fn(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace shoal::kernels::testing
