// What the reference comparisons (tests/template) cannot show: errors carry the template's
// line:column, hostile templates hit limits instead of exhausting memory or the stack, and the
// chat-template wrapper's BOS and fallback rules.
#include <gtest/gtest.h>

#include <string>

#include "model/chat_template.h"
#include "model/jinja/program.h"

namespace shoal::model::jinja {
namespace {

StatusOr<std::string> Render(std::string_view src, const RenderLimits& limits = {}) {
  SHOAL_ASSIGN_OR_RETURN(std::shared_ptr<const Program> p, Program::Parse(src));
  return p->Render(Value::Dict(), limits);
}

TEST(Jinja, ParseErrorsNameLineAndColumn) {
  StatusOr<std::string> r = Render("line one\n{{ 1 + }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("2:8:", 0), 0u) << r.status().message();
  r = Render("{% if x %}\nno end");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("endif"), std::string::npos) << r.status().message();
  r = Render("{{ 'unterminated }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("1:4:", 0), 0u) << r.status().message();
  r = Render("{% frobnicate %}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown statement 'frobnicate'"), std::string::npos);
}

TEST(Jinja, RuntimeErrorsNameLineAndColumn) {
  StatusOr<std::string> r = Render("a\nb\n  {{ 'x' + 1 }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("3:10:", 0), 0u) << r.status().message();
  r = Render("\n{{ raise_exception('no system role') }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "2:4: template raised an exception: no system role");
  r = Render("{{ missing.attr }}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'missing' is undefined"), std::string::npos);
}

TEST(Jinja, LimitsStopHostileTemplates) {
  RenderLimits small;
  small.max_output_bytes = 1000;
  StatusOr<std::string> r = Render("{% for i in range(100000) %}xxxxxxxx{% endfor %}", small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  // Output captured by {% set %} blocks and macros counts too.
  r = Render("{% set s %}{% for i in range(100000) %}xxxxxxxx{% endfor %}{% endset %}", small);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  r = Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("macro calls nested deeper"), std::string::npos);
  RenderLimits steps;
  steps.max_steps = 10000;
  r = Render("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", steps);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  r = Render("{{ range(100000000) | length }}");
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  r = Render("{{ 'x' * 100000000000 }}");
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(Jinja, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  StatusOr<std::string> r = Render(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  r = Render(ifs);
  EXPECT_FALSE(r.ok());
  r = Render("{{ " + std::string(50000, '-') + "1 }}");
  EXPECT_FALSE(r.ok());
  r = Render("{{ " + std::string(50000, '[') + " }}");
  EXPECT_FALSE(r.ok());
}

TEST(Jinja, ProgramRendersManyTimes) {
  StatusOr<std::shared_ptr<const Program>> p = Program::Parse("{{ x ~ '!' }}");
  ASSERT_TRUE(p.ok());
  for (const char* x : {"a", "b"}) {
    Value v = Value::Dict();
    v.dict->Set("x", Value::String(x));
    StatusOr<std::string> r = (*p)->Render(v);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, std::string(x) + "!");
  }
}

TEST(ChatTemplateApi, NoDoubleBos) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromSource("{{ bos_token }}hi", "<s>", "</s>");
  ASSERT_TRUE(t.ok());
  StatusOr<std::string> r = t->Apply(nlohmann::ordered_json::array(), nullptr, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "<s>hi");
  EXPECT_FALSE(t->ShouldAddBos(*r, true));  // the template wrote it
  EXPECT_TRUE(t->ShouldAddBos("hi", true));
  EXPECT_FALSE(t->ShouldAddBos("hi", false));  // the tokenizer does not want one
}

TEST(ChatTemplateApi, BadTemplateAndBadArgumentsAreErrors) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromSource("{% for %}", "", "");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("chat template: 1:8:"), std::string::npos)
      << t.status().message();
  t = ChatTemplate::FromSource("{{ messages[0].content }}", "", "");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->Apply(nlohmann::ordered_json::object(), nullptr, true).ok());
  EXPECT_FALSE(t->Apply(nlohmann::ordered_json::array(), "tools?", true).ok());
}

TEST(ChatTemplateApi, BuiltinFallbacksAreNamed) {
  StatusOr<std::string> chatml = BuiltinChatTemplateSource("chatml");
  ASSERT_TRUE(chatml.ok());
  StatusOr<ChatTemplate> t = ChatTemplate::FromSource(*chatml, "", "<|im_end|>");
  ASSERT_TRUE(t.ok());
  nlohmann::ordered_json msgs = nlohmann::ordered_json::parse(
      R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])");
  StatusOr<std::string> r = t->Apply(msgs, nullptr, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(
      *r,
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  StatusOr<std::string> bad = BuiltinChatTemplateSource("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("chatml"), std::string::npos);
}

TEST(ChatTemplateApi, DetectsFormatsFromTemplateSources) {
  EXPECT_EQ(DetectChatFormat("{{ '<tool_call>' }}"), ChatFormat::kQwen3);
  EXPECT_EQ(DetectChatFormat("<|tool_calls_section_begin|>"), ChatFormat::kKimiK2);
  EXPECT_EQ(DetectChatFormat("plain {{ x }}"), ChatFormat::kContent);
}

}  // namespace
}  // namespace shoal::model::jinja
