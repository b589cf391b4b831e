// A parsed Jinja template, ready to render many times (thread-safe: Render keeps its state on
// the stack). Rendering follows Jinja2 as transformers configures it for chat templates.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "model/jinja/ast.h"
#include "model/jinja/interp.h"
#include "model/jinja/lexer.h"

namespace shoal::model::jinja {

class Program {
 public:
  // Lexes and parses. Errors: InvalidArgument "LINE:COL: ...".
  static StatusOr<std::shared_ptr<const Program>> Parse(std::string_view source,
                                                        const LexOptions& lex = {});

  // Renders with `vars` (a dict Value) as the globals. `now` feeds strftime_now (null: the
  // current time).
  StatusOr<std::string> Render(const Value& vars, const RenderLimits& limits = {},
                               std::function<std::time_t()> now = nullptr) const;

  const Body& body() const { return body_; }

 private:
  Body body_;
};

}  // namespace shoal::model::jinja
