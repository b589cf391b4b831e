// libFuzzer target: any text as a shard-cache manifest (cluster/shard_manifest.h) must give a
// Manifest or a Status, never a crash or undefined behaviour. A manifest that parses has ranges
// inside its files, in order, and survives a round trip through ManifestJson unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cluster/shard_manifest.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal::cluster;
  auto m = ParseManifest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m.ok()) return 0;
  Check(CheckRanges(m->ranges, m->part_bytes).ok());
  Check(m->digests.size() == m->ranges.size());
  auto again = ParseManifest(ManifestJson(*m));
  Check(again.ok());
  Check(again->model_id == m->model_id && again->part_bytes == m->part_bytes &&
        again->digests == m->digests && again->ranges.size() == m->ranges.size());
  for (size_t i = 0; i < m->ranges.size(); ++i) {
    Check(again->ranges[i].part == m->ranges[i].part &&
          again->ranges[i].offset == m->ranges[i].offset &&
          again->ranges[i].bytes == m->ranges[i].bytes);
  }
  return 0;
}
