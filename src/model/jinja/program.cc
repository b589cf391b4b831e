#include "model/jinja/program.h"

#include "model/jinja/parser.h"

namespace shoal::model::jinja {

StatusOr<std::shared_ptr<const Program>> Program::Parse(std::string_view source,
                                                        const LexOptions& lex) {
  SHOAL_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source, lex));
  SHOAL_ASSIGN_OR_RETURN(Body body, jinja::Parse(tokens));
  auto p = std::make_shared<Program>();
  p->body_ = std::move(body);
  return std::shared_ptr<const Program>(std::move(p));
}

StatusOr<std::string> Program::Render(const Value& vars, const RenderLimits& limits,
                                      std::function<std::time_t()> now) const {
  if (!now) now = [] { return std::time(nullptr); };
  Interp in(limits, std::move(now));
  return in.Render(body_, vars);
}

}  // namespace shoal::model::jinja
