// Typed reads of optional request fields: absent or null leaves the output as it is; a value of
// the wrong type or out of range sets an ApiError naming the field and returns false.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/sampler.h"
#include "server/api_error.h"

namespace shoal::server {

using Json = nlohmann::ordered_json;

bool Present(const Json& o, const char* key);
bool ReadNumber(const Json& o, const char* key, double lo, double hi, float* out, ApiError* err);
bool ReadInt(const Json& o, const char* key, int64_t lo, int64_t hi, int64_t* out, ApiError* err);
bool ReadBool(const Json& o, const char* key, bool* out, ApiError* err);
bool ReadString(const Json& o, const char* key, std::string* out, ApiError* err);

// temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty, repeat_penalty,
// repeat_last_n, seed. The defaults are `shoal run`'s (runtime::SamplerParams).
bool ReadSampling(const Json& o, double max_temperature, runtime::SamplerParams* sp,
                  bool* seed_given, ApiError* err);

}  // namespace shoal::server
