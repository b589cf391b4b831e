// Renders real chat templates with shoal and compares the text with Python's Jinja2 (rendering
// as transformers does) and @huggingface/jinja, both run at test time.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "model/chat_template.h"

namespace shoal::model {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path SourceDir() {
  const char* s = std::getenv("SHOAL_SOURCE_DIR");
  return fs::path(s ? s : ".") / "tests" / "template";
}

fs::path TmpDir() {
  const char* b = std::getenv("SHOAL_BINARY_DIR");
  fs::path d = fs::path(b ? b : fs::temp_directory_path().string()) / "template_reference";
  fs::create_directories(d);
  return d;
}

struct Suite {
  ojson spec;                      // {"templates": {...}, "cases": [...]}
  std::vector<std::string> names;  // a readable name per case
};

Suite BuildCases() {
  const fs::path dir = SourceDir();
  Suite s;
  s.spec["templates"] = ojson::object();
  s.spec["cases"] = ojson::array();
  const ojson manifest = ojson::parse(ReadFile(dir / "templates.json"));
  const ojson convs = ojson::parse(ReadFile(dir / "conversations.json"));
  for (const auto& [name, tok] : manifest.items()) {
    std::string source;
    if (name.rfind("builtin-", 0) == 0) {
      StatusOr<std::string> b = BuiltinChatTemplateSource(name.substr(8));
      EXPECT_TRUE(b.ok()) << name;
      if (b.ok()) source = *b;
    } else {
      source = ReadFile(dir / "templates" / (name + ".jinja"));
      EXPECT_FALSE(source.empty()) << name;
    }
    s.spec["templates"][name] = {{"source", source}, {"bos", tok["bos"]}, {"eos", tok["eos"]}};
    for (const ojson& c : convs) {
      for (bool agp : {true, false}) {
        ojson cs = {{"template", name},
                    {"messages", c["messages"]},
                    {"tools", c.value("tools", ojson())},
                    {"add_generation_prompt", agp},
                    {"extra", c.value("extra", ojson::object())}};
        s.spec["cases"].push_back(cs);
        s.names.push_back(name + "/" + c["name"].get<std::string>() + (agp ? "/gen" : "/nogen"));
      }
    }
  }
  const ojson snippets = ojson::parse(ReadFile(dir / "snippets.json"));
  for (const ojson& sn : snippets) {
    const std::string name = "snippet-" + sn["name"].get<std::string>();
    s.spec["templates"][name] = {{"source", sn["template"]}, {"bos", "<s>"}, {"eos", "</s>"}};
    s.spec["cases"].push_back({{"template", name},
                               {"messages", ojson::array()},
                               {"tools", ojson()},
                               {"add_generation_prompt", false},
                               {"extra", sn.value("context", ojson::object())}});
    s.names.push_back(name);
  }
  return s;
}

// Runs a reference renderer; returns its results (one per case) or an error text.
StatusOr<ojson> RunReference(const std::string& cmd, const fs::path& out) {
  fs::remove(out);
  const int rc = std::system(cmd.c_str());
  if (rc != 0) return Internal("command failed (" + std::to_string(rc) + "): " + cmd);
  ojson r = ojson::parse(ReadFile(out), nullptr, false);
  if (r.is_discarded() || !r.is_array()) return Internal("bad output from: " + cmd);
  return r;
}

TEST(TemplateReference, MatchesJinja2AndHuggingFaceJinja) {
  const fs::path dir = SourceDir();
  ASSERT_TRUE(fs::exists(dir / "node_modules" / "@huggingface" / "jinja"))
      << "tests/template/node_modules is missing: run `npm ci` in " << dir;
  Suite suite = BuildCases();
  const fs::path tmp = TmpDir();
  {
    std::ofstream f(tmp / "cases.json", std::ios::binary);
    f << suite.spec.dump();
  }
  StatusOr<ojson> py =
      RunReference("python3 '" + (dir / "render_jinja2.py").string() + "' '" +
                       (tmp / "cases.json").string() + "' '" + (tmp / "jinja2.json").string() + "'",
                   tmp / "jinja2.json");
  ASSERT_TRUE(py.ok()) << py.status().ToString();
  StatusOr<ojson> hf =
      RunReference("cd '" + dir.string() + "' && node render_hf.mjs '" +
                       (tmp / "cases.json").string() + "' '" + (tmp / "hf.json").string() + "'",
                   tmp / "hf.json");
  ASSERT_TRUE(hf.ok()) << hf.status().ToString();
  const ojson& cases = suite.spec["cases"];
  ASSERT_EQ(py->size(), cases.size());
  ASSERT_EQ(hf->size(), cases.size());

  const ojson known = ojson::parse(ReadFile(dir / "known_differences.json"));
  std::set<std::string> known_diff;
  for (const auto& [k, why] : known.items()) known_diff.insert(k);
  std::set<std::string> seen_diff;

  int rendered = 0, errors = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ojson& c = cases[i];
    const ojson& t = suite.spec["templates"][c["template"].get<std::string>()];
    StatusOr<ChatTemplate> tmpl = ChatTemplate::FromSource(
        t["source"].get<std::string>(), t["bos"].get<std::string>(), t["eos"].get<std::string>());
    StatusOr<std::string> got =
        tmpl.ok() ? tmpl->Apply(c["messages"], c["tools"], c["add_generation_prompt"].get<bool>(),
                                c["extra"])
                  : StatusOr<std::string>(tmpl.status());
    const ojson& ref = (*py)[i];
    const ojson& ref2 = (*hf)[i];
    if (ref["ok"].get<bool>()) {
      ++rendered;
      ASSERT_TRUE(got.ok()) << suite.names[i] << ": " << got.status().ToString();
      EXPECT_EQ(*got, ref["text"].get<std::string>()) << suite.names[i];
    } else {
      ++errors;
      EXPECT_FALSE(got.ok()) << suite.names[i] << ": Jinja2 failed (" << ref["error"]
                             << ") but shoal rendered:\n"
                             << *got;
    }
    const bool refs_agree =
        ref["ok"] == ref2["ok"] && (!ref["ok"].get<bool>() || ref["text"] == ref2["text"]);
    if (!refs_agree) {
      seen_diff.insert(suite.names[i]);
      EXPECT_TRUE(known_diff.count(suite.names[i]))
          << suite.names[i] << ": @huggingface/jinja disagrees with Jinja2 and the case is not in "
          << "known_differences.json\nJinja2: " << ref.dump() << "\nhf: " << ref2.dump();
    }
  }
  for (const std::string& k : known_diff) {
    EXPECT_TRUE(seen_diff.count(k))
        << k << " is listed in known_differences.json but the references agree";
  }
  std::printf(
      "template_reference: %zu cases, %d rendered, %d raised in Jinja2, %zu where "
      "@huggingface/jinja differs\n",
      cases.size(), rendered, errors, seen_diff.size());
}

}  // namespace
}  // namespace shoal::model
