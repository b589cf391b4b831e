// shoal template (-m MODEL | --template-file F) --messages MSGS.json [--tools TOOLS.json]
//                [--no-generation-prompt] [--context CTX.json] [--fallback NAME] [--json]
// Renders a conversation through the model's chat template (or a template file) and prints the
// prompt; with --json, a JSON object with the prompt, its token ids (with -m) and the format the
// reply would be parsed with.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "format/gguf.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"

namespace shoal::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct Opts {
  std::string model, template_file, messages, tools, context, fallback;
  bool no_generation_prompt = false;
  bool json = false;
};

StatusOr<ojson> ReadJson(const std::string& path, const char* what) {
  SHOAL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(path));
  ojson j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return InvalidArgument(std::string(what) + " '" + path + "' is not valid JSON");
  return j;
}

Status Template(const Opts& o) {
  if (o.model.empty() && o.template_file.empty()) {
    return InvalidArgument("give -m MODEL or --template-file FILE");
  }
  SHOAL_ASSIGN_OR_RETURN(ojson messages, ReadJson(o.messages, "--messages"));
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  ojson tools;
  if (!o.tools.empty()) {
    SHOAL_ASSIGN_OR_RETURN(tools, ReadJson(o.tools, "--tools"));
  }
  ojson context = ojson::object();
  if (!o.context.empty()) {
    SHOAL_ASSIGN_OR_RETURN(context, ReadJson(o.context, "--context"));
  }
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<model::Tokenizer> tok;
  model::ChatTemplateOptions topts;
  topts.fallback = o.fallback;
  if (!o.template_file.empty()) {
    SHOAL_ASSIGN_OR_RETURN(topts.override_source, ReadFileBytes(o.template_file));
  }
  StatusOr<model::ChatTemplate> tmpl = InvalidArgument("no template");
  if (!o.model.empty()) {
    SHOAL_ASSIGN_OR_RETURN(file, gguf::File::Open(o.model));
    SHOAL_ASSIGN_OR_RETURN(tok, model::Tokenizer::FromMetadata(file->metadata()));
    tmpl = model::ChatTemplate::FromMetadata(file->metadata(), *tok, topts);
  } else {
    tmpl = model::ChatTemplate::FromSource(topts.override_source, "", "");
  }
  if (!tmpl.ok()) return tmpl.status();
  SHOAL_ASSIGN_OR_RETURN(std::string prompt,
                         tmpl->Apply(messages, tools, !o.no_generation_prompt, context));
  if (!o.json) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    return Status::Ok();
  }
  ojson out = {{"prompt", prompt}, {"format", std::string(model::ChatFormatName(tmpl->format()))}};
  if (tok) out["tokens"] = model::TokenizeChatPrompt(*tok, *tmpl, prompt);
  std::printf("%s\n", out.dump().c_str());
  return Status::Ok();
}

}  // namespace

Action RegisterTemplate(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("template", "Render a conversation through a chat template");
  sub->add_option("-m,--model", o->model, "GGUF file (its tokenizer.chat_template)");
  sub->add_option("--template-file", o->template_file,
                  "Jinja template file (instead of, or overriding, the model's)");
  sub->add_option("--messages", o->messages,
                  "JSON file: an array of messages (or an object with \"messages\")")
      ->required();
  sub->add_option("--tools", o->tools, "JSON file: an array of OpenAI tool objects");
  sub->add_option("--context", o->context,
                  "JSON file: an object of extra template variables (enable_thinking, ...)");
  sub->add_option("--fallback", o->fallback,
                  "built-in template (chatml, llama3) for a model without one");
  sub->add_flag("--no-generation-prompt", o->no_generation_prompt,
                "do not open the assistant's turn at the end");
  sub->add_flag("--json", o->json,
                "print {\"prompt\", \"format\", \"tokens\"} (tokens with -m: BOS only when the "
                "template did not write it)");
  return [o] { return Template(*o); };
}

}  // namespace shoal::cli
