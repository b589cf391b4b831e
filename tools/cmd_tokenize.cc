// shoal tokenize -m MODEL (-p TEXT | -f FILE) [--json] [--no-bos] [--no-parse-special]
// Special-token text ("<|eot_id|>") becomes its token by default, as llama-tokenize does.
// Reads only the tokenizer metadata of the GGUF file; no weights are touched.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "format/gguf.h"
#include "model/tokenizer.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model, prompt, file;
  bool json = false;
  bool no_bos = false;
  bool no_parse_special = false;
  bool parse_special = false;  // the old opt-in flag, now the default
};

std::string Printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Status Tokenize(const Opts& o) {
  SHOAL_ASSIGN_OR_RETURN(std::string text, PromptText(o.prompt, o.file));
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(o.model));
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<model::Tokenizer> tok,
                         model::Tokenizer::FromMetadata(file->metadata()));
  // add_special adds BOS (and EOS) only where the metadata asks for them.
  const std::vector<int32_t> ids = tok->Encode(text, !o.no_bos, !o.no_parse_special);
  if (o.json) {
    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
    return Status::Ok();
  }
  for (int32_t id : ids) {
    std::printf("%8d -> '%s'\n", id, Printable(tok->TokenToPiece(id, true)).c_str());
  }
  std::fprintf(stderr, "%zu tokens\n", ids.size());
  return Status::Ok();
}

}  // namespace

Action RegisterTokenize(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  auto* p = sub->add_option("-p,--prompt", o->prompt, "text");
  auto* f = sub->add_option("-f,--file", o->file, "text file, used byte for byte");
  p->excludes(f);
  sub->add_flag("--json", o->json, "print a JSON array of ids");
  sub->add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks for it");
  auto* ns = sub->add_flag("--no-parse-special", o->no_parse_special,
                           "tokenize text such as <|eot_id|> as plain text, not as its control "
                           "token (parsing it is the default, as llama-tokenize does)");
  sub->add_flag("--parse-special", o->parse_special, "the default; kept for old scripts")
      ->excludes(ns);
  return [o] { return Tokenize(*o); };
}

}  // namespace shoal::cli
