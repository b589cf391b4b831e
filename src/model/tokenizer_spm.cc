#include "model/tokenizer_spm.h"

#include <cstdio>
#include <queue>

#include "model/unicode.h"

namespace shoal::model {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> SpmTokenizer::Create(const gguf::Metadata& /*md*/,
                                                          Vocab vocab) {
  std::unique_ptr<SpmTokenizer> t(new SpmTokenizer(std::move(vocab)));
  const Vocab& v = t->vocab_;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    t->byte_token_[b] = v.Find(name);
  }
  t->piece_.resize(v.n());
  for (int32_t id = 0; id < v.n(); ++id) {
    const std::string& s = v.text[id];
    switch (v.type[id]) {
      case TokenType::kNormal:
      case TokenType::kUndefined: {
        std::string out;
        for (size_t i = 0; i < s.size();) {
          if (s.compare(i, kSpace.size(), kSpace) == 0) {
            out.push_back(' ');
            i += kSpace.size();
          } else {
            out.push_back(s[i++]);
          }
        }
        t->piece_[id] = std::move(out);
        break;
      }
      case TokenType::kUserDefined:
        t->piece_[id] = s;
        break;
      case TokenType::kByte:
        if (s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>') {
          t->piece_[id] = std::string(1, static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16)));
        }
        break;
      default:
        break;
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

void SpmTokenizer::EmitBytes(std::string_view bytes, std::vector<int32_t>* out) const {
  for (char c : bytes) {
    const int32_t id = byte_token_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out->push_back(id);
    } else if (vocab_.unk >= 0) {
      out->push_back(vocab_.unk);
    }
  }
}

void SpmTokenizer::EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::string norm;
  norm.reserve(text.size() + 8);
  if (vocab_.add_space_prefix && first) norm.append(kSpace);
  for (char c : text) {
    if (c == ' ') {
      norm.append(kSpace);
    } else {
      norm.push_back(c);
    }
  }
  // Symbols: one per UTF-8 character; a byte that is not UTF-8 is a symbol that never merges.
  struct Sym {
    int32_t begin, bytes, prev, next;
    bool raw;
  };
  std::vector<Sym> sym;
  sym.reserve(norm.size());
  uint32_t cp = 0;
  for (size_t i = 0; i < norm.size();) {
    const int n = unicode::DecodeUtf8(norm, i, &cp);
    const int len = n > 0 ? n : 1;
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({static_cast<int32_t>(i), len, idx - 1, idx + 1, n == 0});
    i += len;
  }
  sym.back().next = -1;

  struct Cand {
    float score;
    int32_t left, bytes;
    bool operator<(const Cand& o) const {  // max-heap: higher score, then lower position first
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Cand> heap;
  auto push = [&](int32_t l) {
    if (l < 0) return;
    const int32_t r = sym[l].next;
    if (r < 0 || sym[l].raw || sym[r].raw) return;
    const int32_t bytes = sym[l].bytes + sym[r].bytes;
    const int32_t id = vocab_.Find(std::string_view(norm).substr(sym[l].begin, bytes));
    if (id < 0 || vocab_.type[id] != TokenType::kNormal) return;
    heap.push({vocab_.score[id], l, bytes});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Sym& l = sym[c.left];
    if (l.bytes == 0 || l.next < 0) continue;
    Sym& r = sym[l.next];
    if (l.bytes + r.bytes != c.bytes) continue;  // stale: one side changed since
    l.bytes = c.bytes;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.bytes = 0;
    push(l.prev);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    const std::string_view s = std::string_view(norm).substr(sym[i].begin, sym[i].bytes);
    const int32_t id = sym[i].raw ? -1 : vocab_.Find(s);
    if (id >= 0) {
      out->push_back(id);
    } else {
      EmitBytes(s, out);
    }
  }
}

std::string SpmTokenizer::TokenToPiece(int32_t id, bool special) const {
  if (id < 0 || id >= vocab_.n()) return {};
  const TokenType t = vocab_.type[id];
  if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused) {
    return special ? vocab_.text[id] : std::string();
  }
  return piece_[id];
}

}  // namespace shoal::model
