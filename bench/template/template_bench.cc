// Chat template rendering and reply parsing speed: what a server spends per request outside the
// model. For each template in DIR (default $SHOAL_SOURCE_DIR/tests/template/templates): parse
// time, and render time of a conversation of TURNS user/assistant pairs with two tools (median
// of REPS). Then ChatOutputParser throughput on a long Qwen3-style reply pushed in 4-byte pieces.
//
//   shoal_template_bench [--dir DIR] [--turns 16] [--reps 50]
//
// Prints one JSON line per template and one for the parser.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/chat_output.h"
#include "model/chat_template.h"

namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const char* src = std::getenv("SHOAL_SOURCE_DIR");
  std::string dir = std::string(src ? src : ".") + "/tests/template/templates";
  int turns = 16, reps = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--turns")) turns = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::max(1, std::atoi(argv[i + 1]));
  }
  const ojson tools = ojson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])");
  ojson msgs = ojson::array();
  msgs.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  for (int t = 0; t < turns; ++t) {
    msgs.push_back({{"role", "user"},
                    {"content", "Question number " + std::to_string(t) +
                                    ": what is the weather like, and why is the sky blue?"}});
    msgs.push_back({{"role", "assistant"},
                    {"content", "Answer " + std::to_string(t) +
                                    ": it is sunny; Rayleigh scattering makes the sky blue."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "Thanks, one more question."}});
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string source = ss.str();
    std::vector<double> parse_us, render_us;
    size_t bytes = 0;
    bool ok = true;
    std::string err;
    for (int r = 0; r < reps && ok; ++r) {
      double t0 = Now();
      auto tmpl = shoal::model::ChatTemplate::FromSource(source, "<s>", "</s>");
      double t1 = Now();
      if (!tmpl.ok()) {
        ok = false;
        err = tmpl.status().ToString();
        break;
      }
      auto out = tmpl->Apply(msgs, tools, true);
      double t2 = Now();
      if (!out.ok()) {
        ok = false;
        err = out.status().ToString();
        break;
      }
      bytes = out->size();
      parse_us.push_back((t1 - t0) * 1e6);
      render_us.push_back((t2 - t1) * 1e6);
    }
    ojson j = {
        {"bench", "template"}, {"template", f.stem().string()}, {"turns", turns}, {"reps", reps}};
    if (ok) {
      j["parse_us"] = Median(parse_us);
      j["render_us"] = Median(render_us);
      j["prompt_bytes"] = bytes;
    } else {
      j["error"] = err;
    }
    std::printf("%s\n", j.dump().c_str());
  }
  // Reply parsing: reasoning, content and tool calls, 4 bytes per Push (about a token).
  std::string reply = "<think>\n";
  for (int k = 0; k < 200; ++k)
    reply += "Step " + std::to_string(k) + ": consider the question carefully. ";
  reply += "\n</think>\n\n";
  for (int k = 0; k < 200; ++k)
    reply += "Paragraph " + std::to_string(k) + " of the answer, with some text. ";
  for (int k = 0; k < 20; ++k) {
    reply += "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"q" +
             std::to_string(k) + "\"}}\n</tool_call>\n";
  }
  std::vector<double> us;
  size_t calls = 0;
  for (int r = 0; r < reps; ++r) {
    double t0 = Now();
    shoal::model::ChatOutputParser p(shoal::model::ChatFormat::kQwen3);
    shoal::model::ChatMessage m;
    for (size_t k = 0; k < reply.size(); k += 4) {
      shoal::model::MergeDeltas(p.Push(std::string_view(reply).substr(k, 4)), &m);
    }
    shoal::model::MergeDeltas(p.Finish(), &m);
    us.push_back((Now() - t0) * 1e6);
    calls = m.tool_calls.size();
  }
  const double med = Median(us);
  ojson j = {{"bench", "chat_output_parser"},
             {"format", "qwen3"},
             {"reply_bytes", reply.size()},
             {"push_bytes", 4},
             {"tool_calls", calls},
             {"us", med},
             {"mb_per_s", med > 0 ? static_cast<double>(reply.size()) / med : 0.0}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
