// Content identity: layout-independent (alignment, tensor order, split sets), sensitive to every
// weight byte, type, shape and metadata value; and its cache (hit, miss on a changed file,
// corrupt cache files ignored and rewritten).
#include "format/identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "format/gguf_test_util.h"
#include "format/identity_cache.h"

namespace shoal::gguf {
namespace {

using testing::TempDir;

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

std::vector<Tensor> Tensors(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> ts;
  for (int i = 0; i < 6; ++i) {
    Tensor t{"blk." + std::to_string(i) + ".w", {32, int64_t(4 + i)}, {}};
    t.data.resize(size_t(32 * (4 + i)));
    for (float& x : t.data) x = float(rng() % 1000) / 7.0f;
    ts.push_back(std::move(t));
  }
  return ts;
}

void Fill(Writer& w, const std::vector<Tensor>& ts, bool reversed = false) {
  w.metadata().Set("general.architecture", Value::Str("llama"));
  w.metadata().Set("llama.block_count", Value::U32(6));
  w.metadata().Set("tokenizer.ggml.tokens", Value::StrArray({"a", "b", "c"}));
  for (size_t k = 0; k < ts.size(); ++k) {
    const Tensor& t = ts[reversed ? ts.size() - 1 - k : k];
    ASSERT_TRUE(w.AddTensor(t.name, DType::kF32, t.shape, t.data.data(), t.data.size() * 4).ok());
  }
}

Identity IdOf(const std::string& path) {
  auto f = File::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  ThreadPool pool(2);
  return ComputeIdentity(**f, pool);
}

TEST(Identity, DigestHexRoundTrip) {
  const Digest d = HashBytes("shoal", 5);
  XXH128_hash_t ref = XXH3_128bits("shoal", 5);  // the library itself, as the reference
  EXPECT_EQ(d.hi, ref.high64);
  EXPECT_EQ(d.lo, ref.low64);
  auto back = ParseDigest(d.Hex());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);
  EXPECT_FALSE(ParseDigest("xyz").ok());
  EXPECT_FALSE(ParseDigest(std::string(32, 'G')).ok());
  EXPECT_FALSE(ParseDigest("../../../../../../../../etc/pass").ok());
}

TEST(Identity, SameForAnyLayout) {
  TempDir dir;
  const auto ts = Tensors(1);
  Writer a(32), b(256), c(64), d(32), e(32);
  Fill(e, ts);
  Fill(a, ts);
  Fill(b, ts);
  Fill(c, ts, /*reversed=*/true);
  Fill(d, ts);
  ASSERT_TRUE(a.Write(dir / "a.gguf").ok());
  ASSERT_TRUE(b.Write(dir / "b.gguf").ok());
  ASSERT_TRUE(c.Write(dir / "c.gguf").ok());
  ASSERT_TRUE(d.WriteSplit(dir / "d", 2).ok());
  // By size: tensors of 512 and 640 bytes fit a 1200-byte part together, 768 and more do not.
  ASSERT_TRUE(e.WriteSplitMaxBytes(dir / "e", 1200).ok());
  auto fe = File::Open(dir / "e-00001-of-00005.gguf");
  ASSERT_TRUE(fe.ok()) << fe.status().ToString();
  EXPECT_EQ((*fe)->n_splits(), 5u);
  EXPECT_EQ(IdOf(dir / "e-00001-of-00005.gguf").model, IdOf(dir / "a.gguf").model);
  const Identity ia = IdOf(dir / "a.gguf");
  EXPECT_EQ(ia.tensors.size(), 6u);
  EXPECT_EQ(ia.tensor_bytes, [&] {
    uint64_t n = 0;
    for (const Tensor& t : ts) n += t.data.size() * 4;
    return n;
  }());
  EXPECT_EQ(IdOf(dir / "b.gguf").model, ia.model);  // another alignment
  EXPECT_EQ(IdOf(dir / "c.gguf").model, ia.model);  // another tensor order
  const Identity id = IdOf(dir / "d-00002-of-00003.gguf");
  EXPECT_EQ(id.model, ia.model);  // a split set
  for (const TensorDigest& t : ia.tensors) {
    ASSERT_NE(id.FindTensor(t.name), nullptr);
    EXPECT_EQ(*id.FindTensor(t.name), t.digest);
  }
}

TEST(Identity, DiffersForAnyContentChange) {
  TempDir dir;
  const auto ts = Tensors(1);
  Writer a;
  Fill(a, ts);
  ASSERT_TRUE(a.Write(dir / "a.gguf").ok());
  const Identity ia = IdOf(dir / "a.gguf");
  {  // other weights, same table
    Writer w;
    Fill(w, Tensors(2));
    ASSERT_TRUE(w.Write(dir / "w.gguf").ok());
    EXPECT_NE(IdOf(dir / "w.gguf").model, ia.model);
  }
  {  // one flipped byte of one tensor: that tensor's digest and the model's change, no other
    std::vector<uint8_t> image = a.Serialize();
    auto f = File::FromMemory(image.data(), image.size());
    ASSERT_TRUE(f.ok());
    const TensorInfo* t = (*f)->FindTensor("blk.3.w");
    ASSERT_NE(t, nullptr);
    const size_t at = size_t(t->data - image.data()) + 17;
    image[at] ^= 0x01;
    auto g = File::FromMemory(image.data(), image.size());
    ASSERT_TRUE(g.ok());
    ThreadPool pool(1);
    const Identity ib = ComputeIdentity(**g, pool);
    EXPECT_NE(ib.model, ia.model);
    for (const TensorDigest& td : ia.tensors) {
      if (td.name == "blk.3.w") {
        EXPECT_NE(*ib.FindTensor(td.name), td.digest);
      } else {
        EXPECT_EQ(*ib.FindTensor(td.name), td.digest);
      }
    }
  }
  {  // one metadata value
    Writer w;
    Fill(w, ts);
    w.metadata().Set("llama.block_count", Value::U64(6));  // same number, another type
    ASSERT_TRUE(w.Write(dir / "m.gguf").ok());
    EXPECT_NE(IdOf(dir / "m.gguf").model, ia.model);
  }
  {  // one shape (same bytes)
    Writer w;
    std::vector<Tensor> t2 = ts;
    t2[0].shape = {64, 2};
    Fill(w, t2);
    ASSERT_TRUE(w.Write(dir / "s.gguf").ok());
    EXPECT_NE(IdOf(dir / "s.gguf").model, ia.model);
  }
}

TEST(IdentityCache, HitMissAndCorruptFiles) {
  TempDir dir;
  Writer a;
  Fill(a, Tensors(1));
  const std::string path = dir / "a.gguf", cache = dir / "ids";
  ASSERT_TRUE(a.Write(path).ok());
  ThreadPool pool(2);
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok());
  const Identity want = ComputeIdentity(**f, pool);
  IdentityLookup first = LookupIdentity(**f, pool, cache);
  EXPECT_FALSE(first.from_cache);
  EXPECT_EQ(first.identity.model, want.model);
  IdentityLookup second = LookupIdentity(**f, pool, cache);
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.identity.model, want.model);
  EXPECT_EQ(second.identity.tensors.size(), want.tensors.size());
  // A changed mtime: computed again.
  struct timespec times[2] = {{0, UTIME_NOW}, {12345, 678}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_FALSE(LookupIdentity(**f, pool, cache).from_cache);
  EXPECT_TRUE(LookupIdentity(**f, pool, cache).from_cache);
  // A corrupt or lying cache file: ignored, the right identity computed and the file rewritten.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(cache)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  for (const std::string& garbage :
       {std::string("{not json"), std::string("[]"), std::string("")}) {
    std::ofstream(files[0], std::ios::trunc) << garbage;
    IdentityLookup r = LookupIdentity(**f, pool, cache);
    EXPECT_FALSE(r.from_cache) << garbage;
    EXPECT_EQ(r.identity.model, want.model);
    EXPECT_TRUE(LookupIdentity(**f, pool, cache).from_cache);
  }
  {  // a cache file whose model digest was edited no longer combines from its parts
    std::ifstream in(files[0]);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const size_t at = text.find(want.model.Hex());
    ASSERT_NE(at, std::string::npos);
    text[at] = text[at] == '0' ? '1' : '0';
    std::ofstream(files[0], std::ios::trunc) << text;
    IdentityLookup r = LookupIdentity(**f, pool, cache);
    EXPECT_FALSE(r.from_cache);
    EXPECT_EQ(r.identity.model, want.model);
  }
}

}  // namespace
}  // namespace shoal::gguf

namespace shoal::gguf {
namespace {

// Hashing reports its progress: bytes never decreasing, the total the tensors' bytes (counted
// here from what was written), the last report done == total; the identity is the same; an
// identity from the cache hashes nothing and reports nothing.
TEST(IdentityProgress, ReportsTheBytesHashed) {
  testing::TempDir dir;
  Writer w;
  w.metadata().Set("general.architecture", Value::Str("llama"));
  uint64_t want_total = 0;
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 3; ++i) {  // 20 MiB each: two 16 MiB pieces
    data.emplace_back(size_t(5) << 20, float(i + 1));
    const int64_t cols = 1024, rows = int64_t(data.back().size()) / cols;
    const std::string name(1, char('a' + i));
    ASSERT_TRUE(
        w.AddTensor(name, DType::kF32, {cols, rows}, data.back().data(), data.back().size() * 4)
            .ok());
    want_total += data.back().size() * 4;
  }
  const std::string path = dir / "big.gguf", cache = dir / "ids";
  ASSERT_TRUE(w.Write(path).ok());
  auto f = File::Open(path);
  ASSERT_TRUE(f.ok());
  ThreadPool pool(3);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  std::mutex mu;
  auto record = [&](uint64_t done, uint64_t total) {
    std::lock_guard<std::mutex> l(mu);
    calls.emplace_back(done, total);
  };
  const IdentityLookup r = LookupIdentity(**f, pool, cache, record);
  EXPECT_FALSE(r.from_cache);
  ASSERT_GE(calls.size(), 2u);
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, want_total);
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first);
    }
    if (i + 1 < calls.size()) {
      EXPECT_LT(calls[i].first, want_total);
    }
  }
  EXPECT_EQ(calls.front().first, 0u);
  EXPECT_EQ(calls.back().first, want_total);
  EXPECT_EQ(r.identity.model, ComputeIdentity(**f, pool).model);
  calls.clear();
  EXPECT_TRUE(LookupIdentity(**f, pool, cache, record).from_cache);
  EXPECT_TRUE(calls.empty());
  // Through a ProgressBoard: a "hash" phase, finished, of the tensors' bytes.
  ProgressBoard board(nullptr);
  ComputeIdentity(**f, pool, board.Reporter("hash", "hashing the model", "B"));
  const ProgressSnapshot s = board.Snapshot();
  ASSERT_EQ(s.phases.size(), 1u);
  EXPECT_EQ(s.phases[0].name, "hash");
  EXPECT_EQ(s.phases[0].unit, "B");
  EXPECT_EQ(s.phases[0].total(), want_total);
  EXPECT_TRUE(s.phases[0].finished());
}

}  // namespace
}  // namespace shoal::gguf
