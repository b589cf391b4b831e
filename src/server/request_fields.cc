#include "server/request_fields.h"

#include <cmath>
#include <limits>

namespace shoal::server {
namespace {

std::string Range(double lo, double hi) {
  auto f = [](double v) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return "between " + f(lo) + " and " + f(hi);
}

}  // namespace

bool Present(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && !it->is_null();
}

bool ReadNumber(const Json& o, const char* key, double lo, double hi, float* out, ApiError* err) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_number()) {
    *err = BadRequest(std::string("'") + key + "' must be a number", key, "invalid_type");
    return false;
  }
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    *err = BadRequest(std::string("'") + key + "' must be " + Range(lo, hi), key, "invalid_value");
    return false;
  }
  *out = static_cast<float>(v);
  return true;
}

bool ReadInt(const Json& o, const char* key, int64_t lo, int64_t hi, int64_t* out, ApiError* err) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_number_integer()) {
    *err = BadRequest(std::string("'") + key + "' must be an integer", key, "invalid_type");
    return false;
  }
  int64_t v;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) {
      *err = BadRequest(std::string("'") + key + "' is too large", key, "invalid_value");
      return false;
    }
    v = int64_t(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < lo || v > hi) {
    *err = BadRequest(
        std::string("'") + key + "' must be " + std::to_string(lo) + " to " + std::to_string(hi),
        key, "invalid_value");
    return false;
  }
  *out = v;
  return true;
}

bool ReadBool(const Json& o, const char* key, bool* out, ApiError* err) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_boolean()) {
    *err = BadRequest(std::string("'") + key + "' must be a boolean", key, "invalid_type");
    return false;
  }
  *out = it->get<bool>();
  return true;
}

bool ReadString(const Json& o, const char* key, std::string* out, ApiError* err) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *err = BadRequest(std::string("'") + key + "' must be a string", key, "invalid_type");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool ReadSampling(const Json& o, double max_temperature, runtime::SamplerParams* sp,
                  bool* seed_given, ApiError* err) {
  if (!ReadNumber(o, "temperature", 0, max_temperature, &sp->temperature, err)) return false;
  if (!ReadNumber(o, "top_p", 0, 1, &sp->top_p, err)) return false;
  if (!ReadNumber(o, "min_p", 0, 1, &sp->min_p, err)) return false;
  if (!ReadNumber(o, "presence_penalty", -2, 2, &sp->presence_penalty, err)) return false;
  if (!ReadNumber(o, "frequency_penalty", -2, 2, &sp->frequency_penalty, err)) return false;
  if (!ReadNumber(o, "repeat_penalty", 0, 10, &sp->repeat_penalty, err)) return false;
  int64_t v = sp->top_k;
  if (!ReadInt(o, "top_k", 0, int64_t{1} << 30, &v, err)) return false;
  sp->top_k = int32_t(v);
  v = sp->repeat_last_n;
  if (!ReadInt(o, "repeat_last_n", 0, int64_t{1} << 20, &v, err)) return false;
  sp->repeat_last_n = int32_t(v);
  if (Present(o, "seed")) {
    int64_t seed = 0;
    if (!ReadInt(o, "seed", std::numeric_limits<int64_t>::min(),
                 std::numeric_limits<int64_t>::max(), &seed, err)) {
      return false;
    }
    sp->seed = uint64_t(seed);
    *seed_given = true;
  }
  return true;
}

}  // namespace shoal::server
