// Encodes the corpus (corpus/strings.json + corpus/long.txt) with GGUF vocabularies converted
// from real tokenizer.json files and compares with the ids the reference implementation
// (transformers.js, through gen_reference.mjs) gives for the same files.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "model/tokenizer.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_pretok.h"

namespace shoal::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Env(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : dflt;
}

// Runs gen_reference.mjs once; returns its JSON, or an error text.
const json& Reference(std::string* error) {
  static json ref;
  static std::string err;
  static bool done = false;
  if (!done) {
    done = true;
    const fs::path dir = fs::path(Env("SHOAL_SOURCE_DIR", ".")) / "tests" / "tokenizer";
    if (!fs::exists(dir / "node_modules" / "@lenml" / "tokenizers")) {
      err = "tests/tokenizer/node_modules is missing: run `npm ci` in " + dir.string() +
            " (scripts/test.sh does) so the reference tokenizers are installed";
    } else {
      const fs::path out = fs::path(Env("SHOAL_BINARY_DIR", ".")) / "tokenizer_reference.json";
      const std::string cmd =
          "node \"" + (dir / "gen_reference.mjs").string() + "\" \"" + out.string() + "\"";
      const int rc = std::system(cmd.c_str());
      if (rc != 0) {
        err = "`" + cmd + "` failed with status " + std::to_string(rc);
      } else {
        std::ifstream f(out);
        std::stringstream ss;
        ss << f.rdbuf();
        ref = json::parse(ss.str(), nullptr, false);
        if (ref.is_discarded()) err = "reference output " + out.string() + " is not JSON";
      }
    }
  }
  *error = err;
  return ref;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out.size() > 120 ? out.substr(0, 120) + "..." : out;
}

struct Model {
  const char* name;
  const char* pre;
  bool expect_add_bos;  // what tokenizer_config.json / the post-processor of the file says
};

void PrintTo(const Model& m, std::ostream* os) { *os << m.name; }

class ReferenceTest : public ::testing::TestWithParam<Model> {};

TEST_P(ReferenceTest, MatchesTransformersJs) {
  const Model& m = GetParam();
  std::string error;
  const json& ref = Reference(&error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(ref.contains(m.name)) << "reference has no " << m.name;
  const json& r = ref[m.name];

  gguf::Metadata md;
  Status st = SetTokenizerMetadataFromFiles(r["tokenizer_json"].get<std::string>(),
                                            r["config_json"].get<std::string>(), m.pre, &md);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Through a GGUF image, as a generated model file carries it.
  gguf::Writer writer;
  writer.metadata() = md;
  ASSERT_TRUE(writer.Check().ok()) << writer.Check().ToString();
  const std::vector<uint8_t> image = writer.Serialize();
  auto file = gguf::File::FromMemory(image.data(), image.size());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto tok_or = Tokenizer::FromMetadata((*file)->metadata());
  ASSERT_TRUE(tok_or.ok()) << tok_or.status().ToString();
  const Tokenizer& tok = **tok_or;
  EXPECT_EQ(tok.add_bos(), m.expect_add_bos);

  int compared = 0, round_trips = 0, nfc_changed = 0;
  for (const json& c : r["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    const std::string want_decoded = c["decoded"].get<std::string>();
    if (!c["nfc_stable"].get<bool>()) ++nfc_changed;  // Qwen's normalizer changes these
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> got =
        tok.Encode(text, /*add_special=*/false, /*parse_special=*/true);
    const auto t1 = std::chrono::steady_clock::now();
    if (text.size() > 5000) {
      std::printf("[ %s ] encode %zu bytes -> %zu tokens in %.3f ms\n", m.name, text.size(),
                  got.size(), std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    EXPECT_EQ(got, want) << m.name << " text: \"" << Escape(text) << "\"";
    ++compared;
    const std::string decoded = tok.Decode(got, /*special=*/true);
    EXPECT_EQ(decoded, want_decoded) << m.name << " decode of \"" << Escape(text) << "\"";
    if (want_decoded == text) {
      ++round_trips;
      EXPECT_EQ(decoded, text) << m.name << " round trip of \"" << Escape(text) << "\"";
    }
    // add_special puts BOS in front exactly when the metadata says so.
    const std::vector<int32_t> with =
        tok.Encode(text, /*add_special=*/true, /*parse_special=*/true);
    std::vector<int32_t> expect = got;
    if (tok.add_bos()) expect.insert(expect.begin(), tok.bos());
    EXPECT_EQ(with, expect) << m.name;
  }
  // Random byte strings (invalid UTF-8 and special-token text included) must not crash and,
  // where no normalizer applies, must decode back byte for byte.
  uint32_t x = 2024;
  auto next = [&x] { return x = x * 1664525u + 1013904223u; };
  const std::string fragments[] = {"<|im_end|>", "<s>", "</s>", "<|eot_id|>", " ", "\n", "a"};
  for (int i = 0; i < 300; ++i) {
    std::string s;
    const int n = static_cast<int>(next() >> 26);
    for (int j = 0; j < n; ++j) {
      const uint32_t r = next() >> 24;
      if (r < 40) {
        s += fragments[r % 7];
      } else {
        s.push_back(static_cast<char>(r < 140 ? 0x20 + (r % 0x5F) : r));
      }
    }
    const std::vector<int32_t> ids = tok.Encode(s, false, true);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.n_vocab());
    if (std::string(m.pre) == "qwen2") continue;  // NFC may change the text
    // Special-token text parsed as tokens comes back as text, except that SentencePiece-style
    // models put a space after each special token (as the reference does).
    if (!tok.add_space_prefix()) {
      EXPECT_EQ(tok.Decode(ids, /*special=*/true), s) << m.name << " \"" << Escape(s) << "\"";
    }
    EXPECT_EQ(tok.Decode(tok.Encode(s, false, false)), s) << m.name << " \"" << Escape(s) << "\"";
  }
  std::printf("[ %s ] %d strings compared (%d not in NFC), %d round trips checked\n", m.name,
              compared, nfc_changed, round_trips);
  EXPECT_GT(compared, 300);
  EXPECT_GT(nfc_changed, 10);  // the corpus exercises normalization
}

// Kimi K2's pre-tokenizer (no tokenizer.json available as a package): shoal's PCRE2 rewrite of
// its class intersections must split exactly as the original pattern does in JavaScript v-mode.
TEST(KimiK2PreTokenizer, SplitsLikeTheOriginalPattern) {
  std::string error;
  const json& ref = Reference(&error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(ref.contains("kimi_k2_splits"));
  auto pre = PreTokenizer::ForName("kimi-k2");
  ASSERT_TRUE(pre.ok()) << pre.status().ToString();
  int n = 0;
  for (const json& c : ref["kimi_k2_splits"]) {
    const std::string text = c["text"].get<std::string>();
    std::vector<std::string_view> pieces;
    (*pre)->Split(text, &pieces);
    EXPECT_EQ(std::vector<std::string>(pieces.begin(), pieces.end()),
              c["pieces"].get<std::vector<std::string>>())
        << "text: \"" << Escape(text) << "\"";
    ++n;
  }
  EXPECT_GT(n, 300);
}

INSTANTIATE_TEST_SUITE_P(Models, ReferenceTest,
                         ::testing::Values(Model{"llama3", "llama-bpe", false},
                                           Model{"qwen3", "qwen2", false},
                                           Model{"deepseek_v3", "deepseek-v3", true},
                                           Model{"llama2", "", true},
                                           Model{"gpt4o", "gpt-4o", false}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace shoal::model
