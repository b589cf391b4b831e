#include "model/generate.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/quant.h"
#include "model/generate_internal.h"

namespace shoal::model {
using gen::GenTensor;
using gen::Init;
namespace {

// splitmix64: a small, well-mixed generator; one stream per tensor row, keyed by (seed, tensor
// index, row), so values do not depend on the types or shapes of other tensors, and rows can be
// made in parallel.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {  // Marsaglia's polar method (no trigonometry)
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, r2;
    do {
      u = 2.0 * Uniform() - 1.0;
      v = 2.0 * Uniform() - 1.0;
      r2 = u * u + v * v;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = std::sqrt(-2.0 * std::log(r2) / r2);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

 private:
  uint64_t s_;
  double spare_ = 0;
  bool has_spare_ = false;
};

uint64_t TensorSeed(uint64_t seed, uint64_t index) {
  Rng r(seed ^ (0xD1B54A32D192ED03ull * (index + 1)));
  return r.Next();
}

// GPT-2's byte -> unicode code point table: printable bytes map to themselves, the rest to 256+.
std::vector<std::string> ByteTokens() {
  std::vector<int> cp(256, -1);
  for (int b = 0; b < 256; ++b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) cp[b] = b;
  }
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (cp[b] < 0) cp[b] = 256 + n++;
  }
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    const int c = cp[b];
    std::string s;
    if (c < 0x80) {
      s.push_back(static_cast<char>(c));
    } else {
      s.push_back(static_cast<char>(0xC0 | (c >> 6)));
      s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
    out[b] = s;
  }
  return out;
}

// Words the merges build, most common first; each is used with and without a leading space.
constexpr std::string_view kWords[] = {
    "the",   "of",    "and",   "to",    "in",    "is",   "that",  "for",   "it",    "as",
    "was",   "with",  "be",    "by",    "on",    "not",  "he",    "this",  "are",   "or",
    "his",   "from",  "at",    "which", "but",   "have", "an",    "had",   "they",  "you",
    "were",  "their", "one",   "all",   "we",    "can",  "her",   "has",   "there", "been",
    "if",    "more",  "when",  "will",  "would", "who",  "so",    "no",    "she",   "other",
    "its",   "may",   "these", "what",  "them",  "than", "some",  "him",   "time",  "into",
    "only",  "do",    "new",   "about", "two",   "also", "first", "could", "any",   "my",
    "like",  "then",  "our",   "out",   "over",  "such", "our",   "model", "token", "world",
    "hello", "text",  "word",  "quick", "brown", "fox",  "jumps", "lazy",  "dog",   "once",
    "upon",  "day",   "ing",   "tion",  "ed",    "er",   "es",    "ly",    "ment",  "ness"};

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // 1 normal, 3 control
  std::vector<std::string> merges;
};

constexpr int kNumControl = 3;

Vocab BuildVocab(int32_t n_vocab) {
  Vocab v;
  v.tokens = ByteTokens();
  const std::string space = v.tokens[' '];  // "Ġ"
  std::set<std::string> seen(v.tokens.begin(), v.tokens.end());
  std::vector<std::string> merges;
  for (int with_space = 1; with_space >= 0; --with_space) {
    for (std::string_view w : kWords) {
      std::vector<std::string> chars;
      if (with_space) chars.push_back(space);
      for (char c : w) chars.emplace_back(1, c);
      std::string prefix = chars[0];
      for (size_t i = 1; i < chars.size(); ++i) {
        std::string next = prefix + chars[i];
        if (seen.insert(next).second) {
          merges.push_back(prefix + " " + chars[i]);
          v.tokens.push_back(next);
        }
        prefix = std::move(next);
      }
    }
  }
  // Fit n_vocab: drop merges from the end, or pad with reserved control tokens.
  const size_t n_regular_max = v.tokens.size();
  size_t n_regular = n_regular_max;
  if (n_vocab > 0 && static_cast<size_t>(n_vocab) < n_regular_max + kNumControl) {
    n_regular = static_cast<size_t>(n_vocab) - kNumControl;
  }
  v.tokens.resize(n_regular);
  merges.resize(n_regular - 256);
  v.merges = std::move(merges);
  v.types.assign(n_regular, 1);
  for (const char* s : {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"}) {
    v.tokens.emplace_back(s);
    v.types.push_back(3);
  }
  for (int i = 0; n_vocab > 0 && v.tokens.size() < static_cast<size_t>(n_vocab); ++i) {
    v.tokens.push_back("<|reserved_" + std::to_string(i) + "|>");
    v.types.push_back(3);
  }
  return v;
}

// general.file_type (llama_ftype) for a file whose 2D weights are mostly `t`.
std::optional<uint32_t> FileType(DType t) {
  switch (t) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ4_1:
      return 3;
    case DType::kQ8_0:
      return 7;
    case DType::kQ5_0:
      return 8;
    case DType::kQ5_1:
      return 9;
    case DType::kQ2_K:
      return 10;
    case DType::kQ3_K:
      return 11;  // Q3_K_S
    case DType::kQ4_K:
      return 14;  // Q4_K_S
    case DType::kQ5_K:
      return 16;  // Q5_K_S
    case DType::kQ6_K:
      return 18;
    case DType::kBF16:
      return 32;
    case DType::kIQ4_NL:
      return 25;
    case DType::kIQ2_XXS:
      return 19;
    case DType::kIQ4_XS:
      return 30;
    default:
      return std::nullopt;
  }
}

// llama-quantize's choice of the layers that get more bits in the _M mixes.
bool UseMoreBits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

// Values of row r of a tensor: its own stream, keyed by (tensor seed, row), so rows can be made
// in parallel and in any order. Weights are y = W x with x of rms ~1 (RMS-normalised input or an
// O(1) mix): a std of 1/sqrt(fan_in) keeps every output O(1). Embeddings are std 1 so the residual
// stream starts at rms ~1; norms are ~1 with a little noise so a mistaken norm weight shows.
void RowValues(const GenTensor& t, uint64_t tensor_seed, int64_t r, float* out) {
  const int64_t ne0 = t.shape[0];
  if (t.init == Init::kFixed) {
    std::memcpy(out, t.fixed.data() + r * ne0, static_cast<size_t>(ne0) * sizeof(float));
    return;
  }
  Rng rng(TensorSeed(tensor_seed, static_cast<uint64_t>(r)));
  double mean = 0, std = 1;
  switch (t.init) {
    case Init::kMatrix:
      std = 1.0 / std::sqrt(static_cast<double>(ne0));
      break;
    case Init::kEmbedding:
      std = 1.0;
      break;
    case Init::kNorm:
      mean = 1.0, std = 0.1;
      break;
    case Init::kBias:
      std = 0.1;
      break;
    case Init::kFixed:
      break;
  }
  for (int64_t i = 0; i < ne0; ++i) out[i] = static_cast<float>(mean + std * rng.Normal());
}

// One f32 row -> bytes of `type`.
bool EncodeRow(DType type, const float* src, int64_t n, uint8_t* dst) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h =
            type == DType::kF16 ? kernels::F32ToF16(src[i]) : kernels::F32ToBF16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return true;
    default:
      return kernels::QuantizeRow(type, src, dst, n);
  }
}

// The tensor's bytes, rows made and encoded on every thread of `pool`.
Status MakeTensor(const GenTensor& t, uint64_t tensor_seed, ThreadPool& pool,
                  std::vector<uint8_t>* out) {
  const int64_t ne0 = t.shape[0];
  int64_t rows = 1;
  for (size_t d = 1; d < t.shape.size(); ++d) rows *= t.shape[d];
  const std::optional<size_t> row_bytes = RowBytesChecked(t.type, ne0);
  if (!row_bytes) {
    return InvalidArgument("tensor '" + t.name + "': row length " + std::to_string(ne0) +
                           " is not a multiple of the " + std::string(DTypeName(t.type)) +
                           " block (" + std::to_string(Info(t.type).block_values) + ")");
  }
  out->assign(*row_bytes * static_cast<size_t>(rows), 0);
  std::atomic<bool> ok{true};
  pool.Run([&](int thread_index, int n_threads) {
    int64_t begin, end;
    ThreadPool::Chunk(rows, 1, thread_index, n_threads, &begin, &end);
    std::vector<float> row(static_cast<size_t>(ne0));
    for (int64_t r = begin; r < end; ++r) {
      RowValues(t, tensor_seed, r, row.data());
      if (!EncodeRow(t.type, row.data(), ne0, out->data() + static_cast<size_t>(r) * *row_bytes)) {
        ok = false;
        return;
      }
    }
  });
  if (!ok) {
    return InvalidArgument("tensor '" + t.name + "': cannot quantize to " +
                           std::string(DTypeName(t.type)));
  }
  return Status::Ok();
}

Status CheckSpec(const GenSpec& s) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3" && !gen::IsMoeArch(s.arch)) {
    return InvalidArgument("gen-model: unknown arch '" + s.arch +
                           "' (llama, qwen2, qwen3, qwen3moe, deepseek2)");
  }
  if (gen::IsMoeArch(s.arch)) SHOAL_RETURN_IF_ERROR(gen::CheckMoeSpec(s));
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
      s.n_ctx <= 0 || s.n_vocab < 0 || s.head_dim < 0) {
    return InvalidArgument("gen-model: sizes must be positive");
  }
  if (s.n_head % s.n_head_kv != 0) {
    return InvalidArgument("gen-model: n_head " + std::to_string(s.n_head) +
                           " is not a multiple of n_head_kv " + std::to_string(s.n_head_kv));
  }
  if (s.head_dim == 0 && s.n_embd % s.n_head != 0) {
    return InvalidArgument("gen-model: n_embd is not a multiple of n_head (give head_dim)");
  }
  const int32_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  if (hd % 2 != 0) return InvalidArgument("gen-model: head_dim must be even for rope");
  if (!s.mix.empty() && s.mix != "q4_k_m") {
    return InvalidArgument("gen-model: unknown mix '" + s.mix + "' (q4_k_m)");
  }
  if (s.expert_type && !gen::IsMoeArch(s.arch)) {
    return InvalidArgument("gen-model: an expert type is for the MoE architectures");
  }
  if (s.expert_type && !FileType(*s.expert_type)) {
    return InvalidArgument("gen-model: weight type " + std::string(DTypeName(*s.expert_type)) +
                           " is not supported");
  }
  if (s.llama3_rope_scaling && s.arch != "llama") {
    return InvalidArgument("gen-model: llama3 rope scaling is for arch llama only");
  }
  if (s.mix.empty() && !FileType(s.type)) {
    return InvalidArgument("gen-model: weight type " + std::string(DTypeName(s.type)) +
                           " is not supported");
  }
  if (!(s.rope_freq_base > 0)) return InvalidArgument("gen-model: rope_freq_base must be > 0");
  return Status::Ok();
}

}  // namespace

std::vector<float> Llama3RopeFactors(float freq_base, int32_t head_dim) {
  const double factor = 8, low = 1, high = 4, old_ctx = 8192;
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (int32_t i = 0; i < head_dim; i += 2) {
    // The converter computes freq in float32: base ** (i / dim).
    const float freq =
        1.0f / std::pow(freq_base, static_cast<float>(i) / static_cast<float>(head_dim));
    const double wavelen = 2 * M_PI / freq;
    double f;
    if (wavelen < high_wavelen) {
      f = 1;
    } else if (wavelen > low_wavelen) {
      f = factor;
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      f = 1 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

StatusOr<gguf::Metadata> BuiltinTokenizerMetadata(int32_t n_vocab) {
  if (n_vocab != 0 && n_vocab < 256 + kNumControl) {
    return InvalidArgument("gen-model: n_vocab " + std::to_string(n_vocab) +
                           " is too small for the built-in vocabulary (at least " +
                           std::to_string(256 + kNumControl) + ")");
  }
  Vocab v = BuildVocab(n_vocab);
  const int32_t bos = static_cast<int32_t>(256 + v.merges.size());
  gguf::Metadata md;
  md.Set("tokenizer.ggml.model", gguf::Value::Str("gpt2"));
  md.Set("tokenizer.ggml.pre", gguf::Value::Str("llama-bpe"));
  md.Set("tokenizer.ggml.tokens", gguf::Value::StrArray(v.tokens));
  md.Set("tokenizer.ggml.token_type", gguf::Value::I32Array(v.types));
  md.Set("tokenizer.ggml.merges", gguf::Value::StrArray(v.merges));
  md.Set("tokenizer.ggml.bos_token_id", gguf::Value::U32(static_cast<uint32_t>(bos)));
  md.Set("tokenizer.ggml.eos_token_id", gguf::Value::U32(static_cast<uint32_t>(bos + 1)));
  md.Set("tokenizer.ggml.eot_token_id", gguf::Value::U32(static_cast<uint32_t>(bos + 2)));
  md.Set("tokenizer.ggml.add_bos_token", gguf::Value::Bool(true));
  return md;
}

Status GenerateModelWriter(const GenSpec& s, gguf::Writer* w) {
  SHOAL_RETURN_IF_ERROR(CheckSpec(s));
  gguf::Metadata tok;
  if (s.tokenizer) {
    for (const auto& [k, v] : s.tokenizer->entries()) {
      if (k.rfind("tokenizer.", 0) == 0) tok.Set(k, v);
    }
  } else {
    SHOAL_ASSIGN_OR_RETURN(tok, BuiltinTokenizerMetadata(s.n_vocab));
  }
  SHOAL_ASSIGN_OR_RETURN(std::vector<std::string> tokens,
                         tok.GetStringArray("tokenizer.ggml.tokens"));
  const int64_t n_vocab = static_cast<int64_t>(tokens.size());
  if (s.n_vocab != 0 && s.n_vocab != n_vocab) {
    return InvalidArgument("gen-model: n_vocab " + std::to_string(s.n_vocab) +
                           " differs from the tokenizer's " + std::to_string(n_vocab) + " tokens");
  }

  const std::string& a = s.arch;
  const bool llama = a == "llama", qwen2 = a == "qwen2";
  const bool qwen3 = a == "qwen3" || a == "qwen3moe", ds2 = a == "deepseek2";
  const int64_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  const int64_t n_q = s.n_head * hd, n_kv = s.n_head_kv * hd;
  const bool mix = s.mix == "q4_k_m";
  const DType base = mix ? DType::kQ4_K : s.type;
  const DType out_type = s.output_type ? *s.output_type : (mix ? DType::kQ6_K : base);

  // Metadata in the order convert_hf_to_gguf.py writes it.
  gguf::Metadata& md = w->metadata();
  md.Set("general.architecture", gguf::Value::Str(a));
  md.Set("general.name", gguf::Value::Str("shoal-gen-" + a + "-" + std::to_string(s.n_embd) + "x" +
                                          std::to_string(s.n_layer) + "-" +
                                          (mix ? s.mix : std::string(DTypeName(s.type)))));
  md.Set(a + ".block_count", gguf::Value::U32(static_cast<uint32_t>(s.n_layer)));
  md.Set(a + ".context_length", gguf::Value::U32(static_cast<uint32_t>(s.n_ctx)));
  md.Set(a + ".embedding_length", gguf::Value::U32(static_cast<uint32_t>(s.n_embd)));
  md.Set(a + ".feed_forward_length", gguf::Value::U32(static_cast<uint32_t>(s.n_ff)));
  md.Set(a + ".attention.head_count", gguf::Value::U32(static_cast<uint32_t>(s.n_head)));
  // deepseek2's converter writes 1 KV head (MLA decodes as multi-query attention on the latent);
  // older converters (one attn_kv_b) wrote n_head, the heads after decompression.
  md.Set(a + ".attention.head_count_kv",
         gguf::Value::U32(ds2 ? (s.legacy_kv_b ? uint32_t(s.n_head) : 1u) : uint32_t(s.n_head_kv)));
  md.Set(a + ".rope.freq_base", gguf::Value::F32(s.rope_freq_base));
  const float eps = s.rms_eps > 0 ? s.rms_eps : (llama ? 1e-5f : 1e-6f);
  md.Set(a + ".attention.layer_norm_rms_epsilon", gguf::Value::F32(eps));
  // key/value_length come from a config's head_dim: Qwen3 configs always have one.
  if ((qwen3 || s.head_dim != 0) && !ds2) {
    md.Set(a + ".attention.key_length", gguf::Value::U32(static_cast<uint32_t>(hd)));
    md.Set(a + ".attention.value_length", gguf::Value::U32(static_cast<uint32_t>(hd)));
  }
  const uint32_t ftype = mix ? 15u : *FileType(s.type);
  md.Set("general.file_type", gguf::Value::U32(ftype));
  if (llama) {  // LlamaModel.set_gguf_parameters adds these two
    md.Set(a + ".vocab_size", gguf::Value::U32(static_cast<uint32_t>(n_vocab)));
    md.Set(a + ".rope.dimension_count", gguf::Value::U32(static_cast<uint32_t>(hd)));
  }
  if (gen::IsMoeArch(a)) gen::AddMoeMetadata(s, n_vocab, &md);
  md.Set("general.quantization_version", gguf::Value::U32(2));
  for (const auto& [k, v] : tok.entries()) md.Set(k, v);

  // Tensors: the converter's extra tensors (rope_freqs) first, then the model's.
  std::vector<GenTensor> ts;
  const int64_t e = s.n_embd, ff = s.n_ff;
  if (s.llama3_rope_scaling) {
    ts.push_back({"rope_freqs.weight",
                  {hd / 2},
                  DType::kF32,
                  Init::kFixed,
                  Llama3RopeFactors(s.rope_freq_base, static_cast<int32_t>(hd))});
  }
  ts.push_back(
      {"token_embd.weight", {e, n_vocab}, s.tied_output ? out_type : base, Init::kEmbedding, {}});
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const DType v_type = mix && UseMoreBits(i, s.n_layer) ? DType::kQ6_K : base;
    const DType down_type = v_type;
    ts.push_back({p + "attn_norm.weight", {e}, DType::kF32, Init::kNorm, {}});
    if (ds2) {
      gen::AddMlaTensors(s, i, base, &ts);
      gen::AddMoeFfnTensors(s, i, base, &ts);
      continue;
    }
    ts.push_back({p + "attn_q.weight", {e, n_q}, base, Init::kMatrix, {}});
    ts.push_back({p + "attn_k.weight", {e, n_kv}, base, Init::kMatrix, {}});
    ts.push_back({p + "attn_v.weight", {e, n_kv}, v_type, Init::kMatrix, {}});
    if (qwen2) {
      ts.push_back({p + "attn_q.bias", {n_q}, DType::kF32, Init::kBias, {}});
      ts.push_back({p + "attn_k.bias", {n_kv}, DType::kF32, Init::kBias, {}});
      ts.push_back({p + "attn_v.bias", {n_kv}, DType::kF32, Init::kBias, {}});
    }
    if (qwen3) {
      ts.push_back({p + "attn_q_norm.weight", {hd}, DType::kF32, Init::kNorm, {}});
      ts.push_back({p + "attn_k_norm.weight", {hd}, DType::kF32, Init::kNorm, {}});
    }
    ts.push_back({p + "attn_output.weight", {n_q, e}, base, Init::kMatrix, {}});
    if (gen::IsMoeArch(a)) {
      gen::AddMoeFfnTensors(s, i, base, &ts);
      continue;
    }
    ts.push_back({p + "ffn_norm.weight", {e}, DType::kF32, Init::kNorm, {}});
    ts.push_back({p + "ffn_gate.weight", {e, ff}, base, Init::kMatrix, {}});
    ts.push_back({p + "ffn_up.weight", {e, ff}, base, Init::kMatrix, {}});
    ts.push_back({p + "ffn_down.weight", {ff, e}, down_type, Init::kMatrix, {}});
  }
  ts.push_back({"output_norm.weight", {e}, DType::kF32, Init::kNorm, {}});
  if (!s.tied_output) {
    ts.push_back({"output.weight", {e, n_vocab}, out_type, Init::kMatrix, {}});
  }

  // MoE / MLA tensors have row lengths a 256-value block may not divide: those take
  // llama-quantize's fallback type.
  for (GenTensor& t : ts) {
    if (gen::IsMoeArch(a) && t.shape.size() > 1) t.type = gen::FallbackType(t.type, t.shape[0]);
  }
  ThreadPool pool(0);  // one thread per core
  std::vector<uint8_t> bytes;
  if (s.on_progress) s.on_progress(0, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    SHOAL_RETURN_IF_ERROR(MakeTensor(ts[i], TensorSeed(s.seed, i), pool, &bytes));
    SHOAL_RETURN_IF_ERROR(
        w->AddTensor(ts[i].name, ts[i].type, ts[i].shape, bytes.data(), bytes.size()));
    if (s.on_progress) s.on_progress(i + 1, ts.size());
  }
  return Status::Ok();
}

Status GenerateModel(const GenSpec& spec, const std::string& path) {
  gguf::Writer w;
  SHOAL_RETURN_IF_ERROR(GenerateModelWriter(spec, &w));
  return w.Write(path);
}

}  // namespace shoal::model
