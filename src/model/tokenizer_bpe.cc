#include "model/tokenizer_bpe.h"

#include <queue>

#include "model/unicode.h"

namespace shoal::model {
namespace {

// The bytes a byte-level token stands for. Characters outside the GPT-2 alphabet (seen in some
// vocabularies' added entries) are kept as their UTF-8.
std::string ByteLevelPiece(std::string_view text) {
  std::string out;
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    const int n = unicode::DecodeUtf8(text, i, &cp);
    if (n == 0) {
      out.push_back(text[i++]);
      continue;
    }
    const int b = unicode::UnicodeToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

uint64_t PairKey(int32_t l, int32_t r) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::Create(const gguf::Metadata& md, Vocab vocab) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(vocab)));
  const Vocab& v = t->vocab_;
  SHOAL_ASSIGN_OR_RETURN(t->pre_,
                         PreTokenizer::ForName(md.GetStringOr("tokenizer.ggml.pre", "default")));
  for (int b = 0; b < 256; ++b) {
    std::string c;
    unicode::AppendUtf8(unicode::ByteToUnicode(static_cast<uint8_t>(b)), &c);
    t->byte_token_[b] = v.Find(c);
  }
  if (md.Has("tokenizer.ggml.merges")) {
    SHOAL_ASSIGN_OR_RETURN(std::vector<std::string> merges,
                           md.GetStringArray("tokenizer.ggml.merges"));
    t->merges_.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& m = merges[rank];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) {
        return InvalidArgument("tokenizer.ggml.merges[" + std::to_string(rank) + "] = '" + m +
                               "' has no space between its two tokens");
      }
      const int32_t l = v.Find(std::string_view(m).substr(0, sp));
      const int32_t r = v.Find(std::string_view(m).substr(sp + 1));
      joined.assign(m, 0, sp);
      joined.append(m, sp + 1);
      const int32_t res = v.Find(joined);
      if (l < 0 || r < 0 || res < 0) continue;  // a merge over tokens not in the table: unusable
      t->merges_.emplace(PairKey(l, r), Merge{static_cast<int32_t>(rank), res});
    }
  }
  t->piece_.resize(v.n());
  for (int32_t id = 0; id < v.n(); ++id) {
    switch (v.type[id]) {
      case TokenType::kNormal:
      case TokenType::kUndefined:
        t->piece_[id] = ByteLevelPiece(v.text[id]);
        break;
      case TokenType::kUserDefined:
        t->piece_[id] = v.text[id];
        break;
      case TokenType::kByte: {  // "<0xAB>"
        const std::string& s = v.text[id];
        if (s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>') {
          t->piece_[id] = std::string(1, static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16)));
        }
        break;
      }
      default:
        break;  // control, unknown, unused: text only on request (TokenToPiece special)
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

const BpeTokenizer::Merge* BpeTokenizer::FindMerge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeTokenizer::EmitByte(uint8_t b, std::vector<int32_t>* out) const {
  const int32_t id = byte_token_[b];
  if (id >= 0) {
    out->push_back(id);
  } else if (vocab_.unk >= 0) {
    out->push_back(vocab_.unk);
  }
}

void BpeTokenizer::EncodeText(std::string_view text, bool /*first*/,
                              std::vector<int32_t>* out) const {
  std::vector<std::string_view> pieces;
  for (const unicode::Utf8Run& run : unicode::SplitUtf8Runs(text)) {
    if (!run.valid) {  // a byte that is not UTF-8: its own piece, its byte token
      EmitByte(static_cast<uint8_t>(text[run.begin]), out);
      continue;
    }
    pieces.clear();
    std::string_view valid = text.substr(run.begin, run.bytes);
    std::string normalized;
    if (pre_->nfc()) {
      normalized = unicode::NormalizeNfc(valid);
      valid = normalized;
    }
    pre_->Split(valid, &pieces);
    for (std::string_view p : pieces) EncodePiece(p, out);
  }
}

void BpeTokenizer::EncodePiece(std::string_view bytes, std::vector<int32_t>* out) const {
  const int n = static_cast<int>(bytes.size());
  if (n == 0) return;
  if (pre_->ignore_merges() && n > 1) {
    const int32_t id = vocab_.Find(unicode::BytesToByteLevel(bytes));
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  // Symbols as a linked list over the bytes; merges popped from a heap by (rank, position).
  std::vector<int32_t> id(n), next(n), prev(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_token_[static_cast<uint8_t>(bytes[i])];
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  struct Cand {
    int32_t rank, pos, left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int l) {
    if (l < 0 || next[l] < 0) return;
    if (const Merge* m = FindMerge(id[l], id[next[l]])) heap.push({m->rank, l, id[l], id[next[l]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int r = next[c.pos];
    if (id[c.pos] != c.left || r < 0 || id[r] != c.right) continue;  // stale
    id[c.pos] = FindMerge(c.left, c.right)->result;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    id[r] = -2;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) {
    if (id[i] >= 0) {
      out->push_back(id[i]);
    } else {
      EmitByte(static_cast<uint8_t>(bytes[i]), out);  // no token for this byte
    }
  }
}

std::string BpeTokenizer::TokenToPiece(int32_t id, bool special) const {
  if (id < 0 || id >= vocab_.n()) return {};
  const TokenType t = vocab_.type[id];
  if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused) {
    return special ? vocab_.text[id] : std::string();
  }
  return piece_[id];
}

}  // namespace shoal::model
