#include "model/tokenizer_json.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_vocab.h"

namespace shoal::model {
namespace {

using nlohmann::json;

constexpr std::string_view kSpm = "\xE2\x96\x81";  // U+2581

// Added tokens not flagged special that are control tokens all the same (llama.cpp's converter
// marks them so too): "<|...|>" and "<｜...｜>".
bool LooksSpecial(std::string_view t) {
  auto wraps = [&](std::string_view a, std::string_view b) {
    return t.size() >= a.size() + b.size() && t.substr(0, a.size()) == a &&
           t.substr(t.size() - b.size()) == b;
  };
  return wraps("<|", "|>") || wraps("<\xEF\xBD\x9C", "\xEF\xBD\x9C>");
}

bool IsByteToken(std::string_view t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.substr(0, 3) == "<0x" && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

// Whether any node of a normalizer / pre-tokenizer tree satisfies `pred`.
template <typename Pred>
bool AnyNode(const json& node, const Pred& pred) {
  if (!node.is_object()) return false;
  if (pred(node)) return true;
  for (const char* list : {"normalizers", "pretokenizers"}) {
    auto it = node.find(list);
    if (it != node.end() && it->is_array()) {
      for (const json& child : *it) {
        if (AnyNode(child, pred)) return true;
      }
    }
  }
  return false;
}

// The text of a special-token entry in tokenizer_config.json: a string or an AddedToken object.
std::string TokenText(const json& config, const char* key) {
  if (!config.is_object()) return {};
  auto it = config.find(key);
  if (it == config.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return {};
}

std::string JoinMerge(const json& m) {
  if (m.is_string()) return m.get<std::string>();
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return m[0].get<std::string>() + " " + m[1].get<std::string>();
  }
  return {};
}

Status SetFromJson(const json& tok, const json& config, std::string_view pre, gguf::Metadata* md) {
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) {
    return InvalidArgument("tokenizer.json: no \"model\" object");
  }
  const json& model = tok["model"];
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    return Unimplemented("tokenizer.json: model type '" + type + "' (only BPE is supported)");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return InvalidArgument("tokenizer.json: model.vocab is not an object");
  }
  const json& normalizer = tok.contains("normalizer") ? tok["normalizer"] : json();
  const json& pre_tok = tok.contains("pre_tokenizer") ? tok["pre_tokenizer"] : json();
  const bool byte_fallback = model.value("byte_fallback", false);
  const bool metaspace =
      AnyNode(pre_tok, [](const json& n) { return n.value("type", std::string()) == "Metaspace"; });
  const bool replaces_space = AnyNode(normalizer, [](const json& n) {
    return n.value("type", std::string()) == "Replace" && n.value("content", std::string()) == kSpm;
  });
  const bool spm = byte_fallback || metaspace || replaces_space;

  // id -> text, type
  std::map<int64_t, std::string> text_of;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) {
      return InvalidArgument("tokenizer.json: model.vocab['" + it.key() + "'] is not an integer");
    }
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= (int64_t{1} << 24)) {
      return InvalidArgument("tokenizer.json: token id " + std::to_string(id) + " out of range");
    }
    text_of[id] = it.key();
  }
  std::unordered_map<int64_t, TokenType> added_type;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string()) {
        return InvalidArgument("tokenizer.json: an added_tokens entry lacks id or content");
      }
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= (int64_t{1} << 24)) {
        return InvalidArgument("tokenizer.json: added token id " + std::to_string(id));
      }
      const std::string content = a["content"].get<std::string>();
      text_of[id] = content;
      const bool special = a.value("special", false);
      added_type[id] =
          (special || LooksSpecial(content)) ? TokenType::kControl : TokenType::kUserDefined;
    }
  }
  if (text_of.empty()) return InvalidArgument("tokenizer.json: empty vocabulary");
  const int64_t n = text_of.rbegin()->first + 1;

  const std::string unk_text = model.contains("unk_token") && model["unk_token"].is_string()
                                   ? model["unk_token"].get<std::string>()
                                   : TokenText(config, "unk_token");
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n);
  std::unordered_map<std::string, int32_t> id_of;
  for (int64_t i = 0; i < n; ++i) {
    auto it = text_of.find(i);
    if (it == text_of.end()) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = static_cast<int32_t>(TokenType::kUnused);
      continue;
    }
    tokens[i] = it->second;
    TokenType t = TokenType::kNormal;
    if (auto a = added_type.find(i); a != added_type.end()) t = a->second;
    if (spm && !unk_text.empty() && it->second == unk_text) t = TokenType::kUnknown;
    if (spm && byte_fallback && t == TokenType::kNormal && IsByteToken(it->second)) {
      t = TokenType::kByte;
    }
    types[i] = static_cast<int32_t>(t);
    id_of.emplace(it->second, static_cast<int32_t>(i));
  }

  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    merges.reserve(model["merges"].size());
    for (const json& m : model["merges"]) {
      std::string s = JoinMerge(m);
      if (s.empty())
        return InvalidArgument("tokenizer.json: a merge is neither \"a b\" nor [a, b]");
      merges.push_back(std::move(s));
    }
  }

  md->Set("tokenizer.ggml.model", gguf::Value::Str(spm ? "llama" : "gpt2"));
  if (!spm)
    md->Set("tokenizer.ggml.pre", gguf::Value::Str(pre.empty() ? "default" : std::string(pre)));
  md->Set("tokenizer.ggml.tokens", gguf::Value::StrArray(tokens));
  md->Set("tokenizer.ggml.token_type", gguf::Value::I32Array(types));
  if (spm) {
    // SentencePiece merges the pair whose result scores highest; a BPE merge list ranks pairs.
    // Score each token by the rank of the first merge that makes it (earlier = higher); tokens
    // no merge makes get a floor score.
    std::vector<float> scores(n, 0.0f);
    std::vector<bool> set(n, false);
    for (size_t r = 0; r < merges.size(); ++r) {
      const std::string& m = merges[r];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) continue;
      auto it = id_of.find(m.substr(0, sp) + m.substr(sp + 1));
      if (it == id_of.end() || set[it->second]) continue;
      scores[it->second] = -static_cast<float>(r);
      set[it->second] = true;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (!set[i] && types[i] == static_cast<int32_t>(TokenType::kNormal)) scores[i] = -1e9f;
    }
    md->Set("tokenizer.ggml.scores", gguf::Value::F32Array(scores));
  } else {
    md->Set("tokenizer.ggml.merges", gguf::Value::StrArray(merges));
  }

  // Special ids.
  auto set_id = [&](const char* key, const std::string& text) {
    if (text.empty()) return;
    auto it = id_of.find(text);
    if (it != id_of.end()) md->Set(key, gguf::Value::U32(static_cast<uint32_t>(it->second)));
  };
  // The post-processor template (e.g. "<s> $A") tells which tokens wrap the text.
  std::string tmpl_first, tmpl_last;
  if (tok.contains("post_processor") && tok["post_processor"].is_object()) {
    const json& pp = tok["post_processor"];
    std::vector<const json*> procs{&pp};
    if (pp.contains("processors") && pp["processors"].is_array()) {
      for (const json& p : pp["processors"]) procs.push_back(&p);
    }
    for (const json* p : procs) {
      if (p->value("type", std::string()) != "TemplateProcessing" || !p->contains("single") ||
          !(*p)["single"].is_array() || (*p)["single"].empty()) {
        continue;
      }
      const json& single = (*p)["single"];
      auto special_of = [](const json& item) -> std::string {
        if (item.contains("SpecialToken") && item["SpecialToken"].contains("id")) {
          return item["SpecialToken"]["id"].get<std::string>();
        }
        return {};
      };
      tmpl_first = special_of(single.front());
      tmpl_last = single.size() > 1 ? special_of(single.back()) : std::string();
    }
  }
  std::string bos = TokenText(config, "bos_token");
  if (bos.empty()) bos = tmpl_first;
  std::string eos = TokenText(config, "eos_token");
  set_id("tokenizer.ggml.bos_token_id", bos);
  set_id("tokenizer.ggml.eos_token_id", eos);
  set_id("tokenizer.ggml.unknown_token_id", unk_text);
  set_id("tokenizer.ggml.padding_token_id", TokenText(config, "pad_token"));
  set_id("tokenizer.ggml.eot_token_id", id_of.count("<|eot_id|>") ? "<|eot_id|>" : "");
  set_id("tokenizer.ggml.eom_token_id", id_of.count("<|eom_id|>") ? "<|eom_id|>" : "");

  bool add_bos = !tmpl_first.empty();
  bool add_eos = !tmpl_last.empty();
  if (config.is_object() && config.contains("add_bos_token") &&
      config["add_bos_token"].is_boolean()) {
    add_bos = config["add_bos_token"].get<bool>();
  }
  if (config.is_object() && config.contains("add_eos_token") &&
      config["add_eos_token"].is_boolean()) {
    add_eos = config["add_eos_token"].get<bool>();
  }
  md->Set("tokenizer.ggml.add_bos_token", gguf::Value::Bool(add_bos));
  md->Set("tokenizer.ggml.add_eos_token", gguf::Value::Bool(add_eos));
  if (spm) {
    const bool prepends = AnyNode(normalizer, [](const json& n) {
      return n.value("type", std::string()) == "Prepend" &&
             n.value("prepend", std::string()) == kSpm;
    });
    const bool meta_prefix = AnyNode(pre_tok, [](const json& n) {
      return n.value("type", std::string()) == "Metaspace" &&
             (n.value("add_prefix_space", false) ||
              n.value("prepend_scheme", std::string("never")) != "never");
    });
    md->Set("tokenizer.ggml.add_space_prefix", gguf::Value::Bool(prepends || meta_prefix));
  }

  if (config.is_object() && config.contains("chat_template")) {
    const json& ct = config["chat_template"];
    if (ct.is_string()) {
      md->Set("tokenizer.chat_template", gguf::Value::Str(ct.get<std::string>()));
    } else if (ct.is_array()) {  // [{name, template}]: "default" plain, others suffixed
      for (const json& e : ct) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template")) continue;
        const std::string name = e["name"].get<std::string>();
        md->Set(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
                gguf::Value::Str(e["template"].get<std::string>()));
      }
    }
  }
  return Status::Ok();
}

StatusOr<json> ReadJson(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return IoError("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  return j;
}

}  // namespace

Status SetTokenizerMetadata(const nlohmann::json& tokenizer, const nlohmann::json& config,
                            std::string_view pre, gguf::Metadata* md) {
  try {
    return SetFromJson(tokenizer, config, pre, md);
  } catch (const nlohmann::json::exception& e) {  // a field of an unexpected JSON type
    return InvalidArgument(std::string("tokenizer.json: ") + e.what());
  }
}

Status SetTokenizerMetadataFromFiles(const std::string& tokenizer_json_path,
                                     const std::string& config_path, std::string_view pre,
                                     gguf::Metadata* md) {
  SHOAL_ASSIGN_OR_RETURN(json tok, ReadJson(tokenizer_json_path));
  json config;
  if (!config_path.empty()) {
    SHOAL_ASSIGN_OR_RETURN(config, ReadJson(config_path));
  }
  return SetTokenizerMetadata(tok, config, pre, md);
}

}  // namespace shoal::model
