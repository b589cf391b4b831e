// Loads a model (whole, or one shard of it) from a GGUF image in memory, for the multi-rank tests
// of this folder. Failures are test failures; the result is then nullptr.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "format/gguf.h"
#include "model/model.h"

namespace shoal::test_models {

inline std::unique_ptr<model::Model> Load(const std::vector<uint8_t>& image,
                                          std::optional<model::Shard> shard) {
  auto f = gguf::File::FromMemory(image.data(), image.size());
  EXPECT_TRUE(f.ok());
  model::LoadOptions o;
  o.check_memory = false;
  o.shard = shard;
  auto m = model::Model::FromFile(std::move(f).value(), o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

}  // namespace shoal::test_models
