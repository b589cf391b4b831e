#include "cluster/shard_manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace shoal::cluster {
namespace {

// An unsigned integer field (a float or a negative number is refused before any conversion).
StatusOr<uint64_t> Uint(const nlohmann::json& x, const char* what) {
  if (!x.is_number_unsigned()) return Corrupt(std::string("manifest ") + what + " is not a count");
  return x.get<uint64_t>();
}

}  // namespace

std::vector<ByteRange> MergeRanges(std::vector<ByteRange> r) {
  std::sort(r.begin(), r.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.part != b.part ? a.part < b.part : a.offset < b.offset;
  });
  std::vector<ByteRange> out;
  for (const ByteRange& x : r) {
    if (x.bytes == 0) continue;
    ByteRange* last = out.empty() ? nullptr : &out.back();
    if (last && last->part == x.part && x.offset <= last->offset + last->bytes) {
      const uint64_t end = std::max(last->offset + last->bytes, x.offset + x.bytes);
      last->bytes = end - last->offset;
    } else {
      out.push_back({x.part, 0, x.offset, x.bytes});
    }
  }
  return out;
}

Status CheckRanges(const std::vector<ByteRange>& r, const std::vector<uint64_t>& part_bytes) {
  if (r.size() > kMaxRanges) return Corrupt(std::to_string(r.size()) + " byte ranges");
  for (size_t i = 0; i < r.size(); ++i) {
    const ByteRange& x = r[i];
    if (x.part >= part_bytes.size()) {
      return Corrupt("byte range " + std::to_string(i) + " names part " + std::to_string(x.part) +
                     " of " + std::to_string(part_bytes.size()));
    }
    const uint64_t size = part_bytes[x.part];
    if (x.bytes == 0 || x.bytes > size || x.offset > size - x.bytes) {
      return Corrupt("byte range " + std::to_string(i) + " lies outside its file");
    }
    if (i > 0) {
      const ByteRange& p = r[i - 1];
      if (x.part < p.part || (x.part == p.part && x.offset < p.offset + p.bytes)) {
        return Corrupt("byte range " + std::to_string(i) + " is out of order or overlaps");
      }
    }
  }
  return Status::Ok();
}

bool Covers(const std::vector<ByteRange>& have, const std::vector<ByteRange>& need) {
  for (const ByteRange& n : need) {
    auto it =
        std::upper_bound(have.begin(), have.end(), n, [](const ByteRange& a, const ByteRange& h) {
          return a.part != h.part ? a.part < h.part : a.offset < h.offset;
        });
    if (it == have.begin()) return false;
    --it;
    if (it->part != n.part || n.offset < it->offset ||
        n.offset + n.bytes > it->offset + it->bytes) {
      return false;
    }
  }
  return true;
}

std::string PartFileName(int i, int n) {
  return n == 1 ? "model.gguf" : gguf::SplitPath("model", i, n);
}

std::string ManifestJson(const Manifest& m) {
  nlohmann::json parts = nlohmann::json::array(), ranges = nlohmann::json::array();
  const int n = int(m.part_bytes.size());
  for (int i = 0; i < n; ++i) {
    parts.push_back({{"file", PartFileName(i, n)}, {"bytes", m.part_bytes[size_t(i)]}});
  }
  for (size_t i = 0; i < m.ranges.size(); ++i) {
    const ByteRange& r = m.ranges[i];
    ranges.push_back({r.part, r.offset, r.bytes, m.digests[i].Hex()});
  }
  const nlohmann::json j = {{"format", "shoal-shard-cache"},
                            {"version", 1},
                            {"model_id", m.model_id.Hex()},
                            {"parts", parts},
                            {"ranges", ranges}};
  return j.dump();
}

StatusOr<Manifest> ParseManifest(std::string_view text) {
  if (text.size() > kMaxManifestBytes) return Corrupt("the manifest is too large");
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Corrupt("the manifest is not a JSON object");
  Manifest m;
  try {
    if (j.at("format") != "shoal-shard-cache" || j.at("version") != 1) {
      return Corrupt("not a version 1 shard-cache manifest");
    }
    auto id = gguf::ParseDigest(j.at("model_id").get<std::string>());
    if (!id.ok()) return Corrupt("manifest model_id: " + id.status().message());
    m.model_id = *id;
    const nlohmann::json& parts = j.at("parts");
    if (!parts.is_array() || parts.empty() || parts.size() > size_t(gguf::kMaxSplits)) {
      return Corrupt("the manifest lists " + std::to_string(parts.size()) + " files");
    }
    const int n = int(parts.size());
    for (int i = 0; i < n; ++i) {
      const nlohmann::json& p = parts[size_t(i)];
      // Names are never taken from the manifest: each must be the one this entry uses, so no
      // manifest can point outside its folder.
      if (p.at("file").get<std::string>() != PartFileName(i, n)) {
        return Corrupt("the manifest names file " + std::to_string(i) + " '" +
                       p.at("file").get<std::string>().substr(0, 64) + "', not '" +
                       PartFileName(i, n) + "'");
      }
      SHOAL_ASSIGN_OR_RETURN(const uint64_t bytes, Uint(p.at("bytes"), "file size"));
      if (bytes == 0 || bytes > kMaxPartBytes) return Corrupt("a file of bad size in the manifest");
      m.part_bytes.push_back(bytes);
    }
    const nlohmann::json& ranges = j.at("ranges");
    if (!ranges.is_array() || ranges.empty() || ranges.size() > kMaxRanges) {
      return Corrupt("the manifest lists no or too many byte ranges");
    }
    for (const nlohmann::json& r : ranges) {
      if (!r.is_array() || r.size() != 4)
        return Corrupt("a manifest range is not [part, offset, bytes, digest]");
      SHOAL_ASSIGN_OR_RETURN(const uint64_t part, Uint(r[0], "range file"));
      SHOAL_ASSIGN_OR_RETURN(const uint64_t offset, Uint(r[1], "range offset"));
      SHOAL_ASSIGN_OR_RETURN(const uint64_t bytes, Uint(r[2], "range size"));
      if (part >= m.part_bytes.size()) return Corrupt("a manifest range names a missing file");
      m.ranges.push_back({uint32_t(part), 0, offset, bytes});
      auto d = gguf::ParseDigest(r[3].get<std::string>());
      if (!d.ok()) return Corrupt("manifest range digest: " + d.status().message());
      m.digests.push_back(*d);
    }
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(std::string("manifest: ") + e.what());
  }
  SHOAL_RETURN_IF_ERROR(CheckRanges(m.ranges, m.part_bytes).With("manifest"));
  return m;
}

}  // namespace shoal::cluster
