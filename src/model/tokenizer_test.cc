// Unit tests on hand-made vocabularies; tests/tokenizer compares real vocabularies against
// the reference implementation.
#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "model/tokenizer_json.h"
#include "model/tokenizer_pretok.h"
#include "model/tokenizer_stream.h"
#include "model/unicode.h"

namespace shoal::model {
namespace {

using gguf::Metadata;
using gguf::Value;

// A byte-level BPE vocabulary: the 256 byte tokens, some merges, and specials.
struct BpeFixture {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  int32_t Add(const std::string& t, int32_t type = 1) {
    tokens.push_back(t);
    types.push_back(type);
    return static_cast<int32_t>(tokens.size() - 1);
  }
  Metadata Build(const std::string& pre) const {
    Metadata md;
    md.Set("tokenizer.ggml.model", Value::Str("gpt2"));
    md.Set("tokenizer.ggml.pre", Value::Str(pre));
    md.Set("tokenizer.ggml.tokens", Value::StrArray(tokens));
    md.Set("tokenizer.ggml.token_type", Value::I32Array(types));
    md.Set("tokenizer.ggml.merges", Value::StrArray(merges));
    return md;
  }
};

BpeFixture ByteVocab() {
  BpeFixture f;
  for (int b = 0; b < 256; ++b) f.Add(unicode::BytesToByteLevel(std::string(1, char(b))));
  return f;
}

std::unique_ptr<Tokenizer> Make(const Metadata& md) {
  auto t = Tokenizer::FromMetadata(md);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(BpeTokenizer, MergesLowestRankFirst) {
  BpeFixture f = ByteVocab();
  const int32_t ab = f.Add("ab"), bc = f.Add("bc"), abc = f.Add("abc");
  // "b c" outranks "a b": "abc" -> a + bc, and no merge "a bc" exists.
  f.merges = {"b c", "a b", "ab c"};
  auto t = Make(f.Build("default"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("abc", false, false), (std::vector<int32_t>{'a', bc}));
  EXPECT_EQ(t->Encode("abx", false, false), (std::vector<int32_t>{ab, 'x'}));
  f.merges = {"a b", "b c", "ab c"};
  t = Make(f.Build("default"));
  EXPECT_EQ(t->Encode("abc", false, false), (std::vector<int32_t>{abc}));
  // Equal pairs resolve leftmost first: "aaa" with only "a a" -> [aa, a].
  BpeFixture g = ByteVocab();
  const int32_t aa = g.Add("aa");
  g.merges = {"a a"};
  t = Make(g.Build("default"));
  EXPECT_EQ(t->Encode("aaa", false, false), (std::vector<int32_t>{aa, 'a'}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeTokensForLlama3) {
  BpeFixture f = ByteVocab();
  const int32_t ab = f.Add("ab"), abc = f.Add("abc");
  f.merges = {"a b"};  // no merge makes "abc"
  EXPECT_EQ(Make(f.Build("default"))->Encode("abc", false, false), (std::vector<int32_t>{ab, 'c'}));
  EXPECT_EQ(Make(f.Build("llama-bpe"))->Encode("abc", false, false), (std::vector<int32_t>{abc}));
}

TEST(BpeTokenizer, Qwen2NormalizesToNfc) {
  BpeFixture f = ByteVocab();
  auto qwen = Make(f.Build("qwen2"));
  auto llama = Make(f.Build("llama-bpe"));
  const std::string composed = "caf\xC3\xA9", decomposed = "cafe\xCC\x81";
  EXPECT_EQ(qwen->Encode(decomposed, false, false), qwen->Encode(composed, false, false));
  EXPECT_EQ(qwen->Decode(qwen->Encode(decomposed, false, false)), composed);
  EXPECT_EQ(llama->Decode(llama->Encode(decomposed, false, false)), decomposed);
}

TEST(BpeTokenizer, PreTokenizerSplitsBeforeMerging) {
  BpeFixture f = ByteVocab();
  const std::string sp = unicode::BytesToByteLevel(" ");
  const int32_t sa = f.Add(sp + "a");
  f.merges = {sp + " a"};
  auto t = Make(f.Build("default"));
  // gpt2 regex: " a" is one piece; "a a" -> "a", " a".
  EXPECT_EQ(t->Encode("a a", false, false), (std::vector<int32_t>{'a', sa}));
  // Two spaces: "\s+(?!\S)" leaves one space to join the word.
  EXPECT_EQ(t->Encode("a  a", false, false), (std::vector<int32_t>{'a', ' ', sa}));
}

TEST(BpeTokenizer, PreTokenizerPatterns) {
  auto split = [](const char* name, std::string_view text) {
    auto p = PreTokenizer::ForName(name);
    EXPECT_TRUE(p.ok());
    std::vector<std::string_view> pieces;
    (*p)->Split(text, &pieces);
    return std::vector<std::string>(pieces.begin(), pieces.end());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("llama-bpe", "Hello world 1234567 it's"),
            (V{"Hello", " world", " ", "123", "456", "7", " it", "'s"}));
  EXPECT_EQ(split("qwen2", "x 123"), (V{"x", " ", "1", "2", "3"}));
  EXPECT_EQ(split("default", "Hello  world!!"), (V{"Hello", " ", " world", "!!"}));
  // deepseek-v3: digits in threes, then CJK runs, then the main regex.
  EXPECT_EQ(split("deepseek-v3", "ab12345中文字x"), (V{"ab", "123", "45", "中文字", "x"}));
  // kimi-k2: Han runs (with script-extension punctuation such as U+3002) before words.
  EXPECT_EQ(split("kimi-k2",
                  "Hello\xE4\xB8\x96\xE7\x95\x8C\xE3\x80\x82"
                  "ABCdef 12345"),
            (V{"Hello", "\xE4\xB8\x96\xE7\x95\x8C\xE3\x80\x82", "ABCdef", " ", "123", "45"}));
  EXPECT_FALSE(PreTokenizer::ForName("no-such-pre").ok());
}

TEST(BpeTokenizer, SpecialTokensAndDecode) {
  BpeFixture f = ByteVocab();
  const int32_t eot = f.Add("<|eot|>", 3);
  const int32_t user = f.Add("<tool>", 4);
  Metadata md = f.Build("default");
  md.Set("tokenizer.ggml.eos_token_id", Value::U32(eot));
  md.Set("tokenizer.ggml.bos_token_id", Value::U32(eot));
  md.Set("tokenizer.ggml.add_bos_token", Value::Bool(true));
  auto t = Make(md);
  const std::string text = "a<|eot|>b<tool>c";
  const auto with = t->Encode(text, false, true);
  EXPECT_EQ(with, (std::vector<int32_t>{'a', eot, 'b', user, 'c'}));
  // Without parse_special the control text is plain text; user-defined tokens still split.
  const auto without = t->Encode(text, false, false);
  EXPECT_EQ(std::count(without.begin(), without.end(), eot), 0);
  EXPECT_EQ(std::count(without.begin(), without.end(), user), 1);
  EXPECT_EQ(t->Decode(without), text);
  EXPECT_EQ(t->Decode(with, /*special=*/true), text);
  EXPECT_EQ(t->Decode(with, /*special=*/false), "ab<tool>c");
  EXPECT_EQ(t->Encode("a", true, true), (std::vector<int32_t>{eot, 'a'}));
  EXPECT_TRUE(t->IsEog(eot));
  EXPECT_FALSE(t->IsEog('a'));
  EXPECT_EQ(t->TokenToPiece(' '), " ");
  EXPECT_EQ(t->TokenToPiece(-1), "");
  EXPECT_EQ(t->TokenToPiece(1 << 30), "");
}

TEST(BpeTokenizer, InvalidUtf8IsEncodedByByte) {
  BpeFixture f = ByteVocab();
  auto t = Make(f.Build("llama-bpe"));
  const std::string bad = "ok \xFF\xC3 x\xE2\x82 \xED\xA0\x80 end";
  const auto ids = t->Encode(bad, false, true);
  EXPECT_EQ(t->Decode(ids), bad);  // every byte survives
  EXPECT_EQ(ids[3], 0xFF);         // the invalid byte is its own byte token
}

TEST(BpeTokenizer, LargeAndHostileInputsRoundTrip) {
  BpeFixture f = ByteVocab();
  const std::string sp = unicode::BytesToByteLevel(" ");
  f.Add(sp + sp);
  f.Add("aa");
  f.merges = {sp + " " + sp, "a a"};
  for (const char* pre : {"default", "llama-bpe", "qwen2", "deepseek-v3"}) {
    auto t = Make(f.Build(pre));
    ASSERT_NE(t, nullptr);
    std::string random(1 << 16, '\0');
    uint32_t x = 1;
    for (char& c : random) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
    for (const std::string& s : {std::string(200000, ' '), std::string(100000, 'a'), random,
                                 std::string(30000, '\n') + std::string(30000, '9')}) {
      const std::string back = t->Decode(t->Encode(s, false, true));
      if (std::string(pre) == "qwen2") {  // NFC may change valid stretches; lengths stay close
        EXPECT_NEAR(static_cast<double>(back.size()), static_cast<double>(s.size()),
                    s.size() * 0.05)
            << pre;
      } else {
        EXPECT_EQ(back, s) << pre << " " << s.size();
      }
    }
  }
}

TEST(BpeTokenizer, EncodeIsSafeFromManyThreads) {
  BpeFixture f = ByteVocab();
  f.Add("ab");
  f.merges = {"a b"};
  auto t = Make(f.Build("deepseek-v3"));
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "ab 12345 \xE4\xB8\xAD\xE6\x96\x87 x\xFF ";
  const std::vector<int32_t> want = t->Encode(text, false, true);
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { got[i] = t->Encode(text, false, true); });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
}

TEST(DecodeStream, HoldsSplitCharactersBack) {
  BpeFixture f = ByteVocab();  // no merges: every byte is its own token
  auto t = Make(f.Build("default"));
  DecodeStream stream(*t);
  const std::string emoji = "\xF0\x9F\x98\x80";
  std::string got;
  for (int32_t id : t->Encode("a" + emoji, false, false)) {
    const std::string part = stream.Push(id);
    EXPECT_TRUE(unicode::IsValidUtf8(part)) << "a split character was given out";
    got += part;
  }
  EXPECT_EQ(got, "a" + emoji);
  EXPECT_EQ(stream.Flush(), "");
  // A truncated character is given out by Flush.
  DecodeStream s2(*t);
  EXPECT_EQ(s2.Push(0xE4), "");
  EXPECT_EQ(s2.Push(0xB8), "");
  EXPECT_EQ(s2.Flush(), "\xE4\xB8");
}

// A SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte tokens, pieces with scores.
Metadata SpmVocab(std::vector<int32_t>* ids_out = nullptr) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
    scores.push_back(0);
  }
  const std::vector<std::pair<std::string, float>> pieces = {
      {"\xE2\x96\x81", -1},
      {"h", -2},
      {"e", -3},
      {"l", -4},
      {"o", -5},
      {"w", -6},
      {"r", -7},
      {"d", -8},
      {"ll", -10},
      {"he", -11},
      {"llo", -12},
      {"hello", -13},
      {"\xE2\x96\x81hello", -14},
      {"\xE2\x96\x81w", -20},
      {"or", -21},
      {"\xE2\x96\x81wor", -22},
      {"\xC3\xA9", -30},  // é
  };
  for (const auto& [p, s] : pieces) {
    if (ids_out) ids_out->push_back(static_cast<int32_t>(tokens.size()));
    tokens.push_back(p);
    types.push_back(1);
    scores.push_back(s);
  }
  Metadata md;
  md.Set("tokenizer.ggml.model", Value::Str("llama"));
  md.Set("tokenizer.ggml.tokens", Value::StrArray(tokens));
  md.Set("tokenizer.ggml.token_type", Value::I32Array(types));
  md.Set("tokenizer.ggml.scores", Value::F32Array(scores));
  md.Set("tokenizer.ggml.bos_token_id", Value::U32(1));
  md.Set("tokenizer.ggml.eos_token_id", Value::U32(2));
  md.Set("tokenizer.ggml.unknown_token_id", Value::U32(0));
  return md;
}

TEST(SpmTokenizer, ScoreMergesSpacePrefixAndByteFallback) {
  std::vector<int32_t> id;
  auto t = Make(SpmVocab(&id));
  ASSERT_NE(t, nullptr);
  const int32_t sp = id[0], kHello = id[12], kD = id[7];
  EXPECT_TRUE(t->add_bos());  // "llama" models default to BOS
  EXPECT_EQ(t->Encode("hello", true, false), (std::vector<int32_t>{1, kHello}));
  // "▁world": ▁w (-20) and "or" (-21) merge; "▁wor" (-22) then; "l", "d" have no pair.
  EXPECT_EQ(t->Encode("hello world", false, false),
            (std::vector<int32_t>{kHello, id[15], id[3], kD}));
  // "ü" has no piece: its two bytes fall back to <0xC3> <0xBC>; é has one.
  EXPECT_EQ(t->Encode("\xC3\xBC\xC3\xA9", false, false),
            (std::vector<int32_t>{sp, 3 + 0xC3, 3 + 0xBC, id[16]}));
  for (const std::string s : {"hello world", "  two  spaces ", "\xC3\xBC\xC3\xA9 x", "a\nb"}) {
    EXPECT_EQ(t->Decode(t->Encode(s, true, false)), s);
  }
  EXPECT_EQ(t->TokenToPiece(3 + '\n'), "\n");
  EXPECT_EQ(t->TokenToPiece(sp), " ");
  EXPECT_EQ(t->TokenToPiece(1), "");
  EXPECT_EQ(t->TokenToPiece(1, true), "<s>");
  EXPECT_TRUE(t->IsEog(2));
}

TEST(SpmTokenizer, SpacePrefixAfterSpecialTokensAndNoPrefixOption) {
  std::vector<int32_t> id;
  Metadata md = SpmVocab(&id);
  auto t = Make(md);
  // After a special token the next text gets its '▁' again (as HF does per segment).
  EXPECT_EQ(t->Encode("hello</s>hello", false, true), (std::vector<int32_t>{id[12], 2, id[12]}));
  md.Set("tokenizer.ggml.add_space_prefix", Value::Bool(false));
  t = Make(md);
  EXPECT_EQ(t->Encode("hello", false, false), (std::vector<int32_t>{id[11]}));
  EXPECT_EQ(t->Encode("", true, false), (std::vector<int32_t>{1}));
}

TEST(DecodeStream, ConcatenationEqualsDecode) {
  std::vector<std::unique_ptr<Tokenizer>> toks;
  toks.push_back(Make(SpmVocab()));
  toks.push_back(Make(ByteVocab().Build("llama-bpe")));
  uint32_t x = 7;
  for (const auto& t : toks) {
    for (int i = 0; i < 200; ++i) {
      std::vector<int32_t> ids;
      const int n = static_cast<int>((x = x * 1664525u + 1013904223u) >> 27);
      for (int j = 0; j < n; ++j) {
        ids.push_back(static_cast<int32_t>((x = x * 1664525u + 1013904223u) % t->n_vocab()));
      }
      DecodeStream stream(*t);
      std::string got;
      for (int32_t id : ids) got += stream.Push(id);
      got += stream.Flush();
      EXPECT_EQ(got, t->Decode(ids));
    }
  }
}

TEST(SpmTokenizer, InvalidUtf8UsesByteTokens) {
  auto t = Make(SpmVocab());
  const std::string bad = "he\xFFllo \xC3";
  const auto ids = t->Encode(bad, false, false);
  EXPECT_EQ(t->Decode(ids), bad);
}

TEST(Tokenizer, BadMetadataIsAnError) {
  Metadata md;
  EXPECT_EQ(Tokenizer::FromMetadata(md).status().code(), StatusCode::kNotFound);
  md.Set("tokenizer.ggml.model", Value::Str("bert"));
  EXPECT_EQ(Tokenizer::FromMetadata(md).status().code(), StatusCode::kUnimplemented);
  md.Set("tokenizer.ggml.model", Value::Str("gpt2"));
  EXPECT_FALSE(Tokenizer::FromMetadata(md).ok());  // no tokens
  md.Set("tokenizer.ggml.tokens", Value::StrArray({"a", "b"}));
  md.Set("tokenizer.ggml.token_type", Value::I32Array({1}));
  EXPECT_EQ(Tokenizer::FromMetadata(md).status().code(), StatusCode::kInvalidArgument);
  md.Set("tokenizer.ggml.token_type", Value::I32Array({1, 1}));
  md.Set("tokenizer.ggml.pre", Value::Str("unknown-pre"));
  EXPECT_EQ(Tokenizer::FromMetadata(md).status().code(), StatusCode::kUnimplemented);
  md.Set("tokenizer.ggml.pre", Value::Str("default"));
  md.Set("tokenizer.ggml.merges", Value::StrArray({"ab"}));
  EXPECT_EQ(Tokenizer::FromMetadata(md).status().code(), StatusCode::kInvalidArgument);
  md.Set("tokenizer.ggml.merges", Value::StrArray({"a b"}));  // "ab" not a token: ignored
  md.Set("tokenizer.ggml.bos_token_id", Value::U32(99));      // out of range: no BOS
  auto t = Tokenizer::FromMetadata(md);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->bos(), -1);
  EXPECT_EQ((*t)->Encode("ab", true, true), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ((*t)->Encode("abc", true, true), (std::vector<int32_t>{0, 1}));  // 'c' has no token
}

TEST(TokenizerJson, ConvertsByteLevelBpe) {
  const nlohmann::json tok = nlohmann::json::parse(R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
              "merges": [["a", "b"]]},
    "added_tokens": [
      {"id": 5, "content": "<|end|>", "special": true},
      {"id": 6, "content": "<tool>", "special": false},
      {"id": 7, "content": "<|fim|>", "special": false}
    ],
    "pre_tokenizer": {"type": "ByteLevel"}
  })");
  const nlohmann::json cfg = nlohmann::json::parse(
      R"({"eos_token": "<|end|>", "add_bos_token": false, "chat_template": "{{ x }}"})");
  Metadata md;
  ASSERT_TRUE(SetTokenizerMetadata(tok, cfg, "qwen2", &md).ok());
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.model", ""), "gpt2");
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.pre", ""), "qwen2");
  EXPECT_EQ(*md.GetStringArray("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"a", "b", "ab", "\xC4\xA0", "[PAD4]", "<|end|>", "<tool>",
                                      "<|fim|>"}));
  EXPECT_EQ(*md.GetIntArray("tokenizer.ggml.token_type"),
            (std::vector<int64_t>{1, 1, 1, 1, 5, 3, 4, 3}));
  EXPECT_EQ(*md.GetStringArray("tokenizer.ggml.merges"), (std::vector<std::string>{"a b"}));
  EXPECT_EQ(*md.GetInt("tokenizer.ggml.eos_token_id"), 5);
  EXPECT_FALSE(md.Has("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(md.GetStringOr("tokenizer.chat_template", ""), "{{ x }}");
  auto t = Tokenizer::FromMetadata(md);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->Encode("ab ab<|end|>", false, true), (std::vector<int32_t>{2, 3, 2, 5}));
}

TEST(TokenizerJson, ConvertsSentencePieceStyleBpe) {
  const nlohmann::json tok = nlohmann::json::parse(R"({
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "\u2581": 4, "a": 5,
                        "b": 6, "ab": 7, "\u2581ab": 8},
              "merges": ["a b", "\u2581 ab"]},
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                     {"id": 1, "content": "<s>", "special": true},
                     {"id": 2, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]}
  })");
  Metadata md;
  ASSERT_TRUE(SetTokenizerMetadata(tok, nlohmann::json(), "", &md).ok());
  EXPECT_EQ(md.GetStringOr("tokenizer.ggml.model", ""), "llama");
  EXPECT_EQ(*md.GetIntArray("tokenizer.ggml.token_type"),
            (std::vector<int64_t>{2, 3, 3, 6, 1, 1, 1, 1, 1}));
  const auto scores = *md.GetFloatArray("tokenizer.ggml.scores");
  EXPECT_GT(scores[7], scores[8]);  // "ab" is made by an earlier merge than "▁ab"
  EXPECT_TRUE(md.GetBoolOr("tokenizer.ggml.add_bos_token", false));
  EXPECT_TRUE(md.GetBoolOr("tokenizer.ggml.add_space_prefix", false));
  EXPECT_EQ(*md.GetInt("tokenizer.ggml.bos_token_id"), 1);
  auto t = Tokenizer::FromMetadata(md);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->Encode("ab", true, false), (std::vector<int32_t>{1, 8}));
  EXPECT_EQ((*t)->Encode("A", false, false), (std::vector<int32_t>{4, 3}));
}

TEST(TokenizerJson, RejectsWhatItCannotConvert) {
  Metadata md;
  EXPECT_FALSE(SetTokenizerMetadata(nlohmann::json::parse("{}"), {}, "", &md).ok());
  EXPECT_EQ(
      SetTokenizerMetadata(nlohmann::json::parse(R"({"model": {"type": "Unigram"}})"), {}, "", &md)
          .code(),
      StatusCode::kUnimplemented);
  EXPECT_FALSE(
      SetTokenizerMetadata(
          nlohmann::json::parse(R"({"model": {"type": "BPE", "vocab": {"a": "x"}}})"), {}, "", &md)
          .ok());
  EXPECT_FALSE(SetTokenizerMetadataFromFiles("/nonexistent/tokenizer.json", "", "", &md).ok());
}

}  // namespace
}  // namespace shoal::model

namespace shoal::model {
namespace {

// Without tokenizer.ggml.add_bos_token, BOS follows the pre-tokenizer as llama.cpp's
// llama-vocab.cpp decides it (a Llama-3 vocabulary adds it, Qwen2's and DeepSeek-V3's do not);
// the key, when present, wins.
TEST(BpeTokenizer, AddBosDefaultFollowsThePreTokenizer) {
  BpeFixture f = ByteVocab();
  const int32_t bos = f.Add("<|begin_of_text|>", 3);
  for (const char* pre : {"llama-bpe", "llama3", "qwen2", "deepseek-v3", "gpt-4o", "default"}) {
    SCOPED_TRACE(pre);
    Metadata md = f.Build(pre);
    md.Set("tokenizer.ggml.bos_token_id", Value::U32(static_cast<uint32_t>(bos)));
    auto t = Tokenizer::FromMetadata(md);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    const bool want = std::string(pre) == "llama-bpe" || std::string(pre) == "llama3";
    EXPECT_EQ((*t)->add_bos(), want);
    const std::vector<int32_t> ids = (*t)->Encode("a", true, false);
    EXPECT_EQ(!ids.empty() && ids[0] == bos, want);
    md.Set("tokenizer.ggml.add_bos_token", Value::Bool(!want));
    auto t2 = Tokenizer::FromMetadata(md);
    ASSERT_TRUE(t2.ok());
    EXPECT_EQ((*t2)->add_bos(), !want);
  }
  EXPECT_TRUE(DefaultAddBos("llama", ""));
  EXPECT_TRUE(DefaultAddBos("gpt2", "tekken"));
  EXPECT_FALSE(DefaultAddBos("gpt2", "kimi-k2"));
}

}  // namespace
}  // namespace shoal::model
