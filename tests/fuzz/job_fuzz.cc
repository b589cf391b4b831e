// libFuzzer target: any text as the job message rank 0 broadcasts (cluster/job_parse.h) must give
// a JobMessage or a Status, never a crash or undefined behaviour; the first byte picks the group
// size. A job that parses must survive a round trip through JobText unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cluster/job_parse.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int group = 1 + data[0] % 8;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto m = shoal::cluster::ParseJob(text, group);
  if (!m.ok()) return 0;
  auto again = shoal::cluster::ParseJob(shoal::cluster::JobText(*m), group);
  Check(again.ok());
  Check(again->ok == m->ok && again->model_path == m->model_path &&
        again->model_id == m->model_id && again->part_bytes == m->part_bytes &&
        again->n_ctx == m->n_ctx && again->plan == m->plan);
  return 0;
}
