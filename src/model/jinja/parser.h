// The Jinja parser: tokens to a statement tree. Errors are InvalidArgument "LINE:COL: ...".
// Nesting (expressions and blocks together) is bounded so hostile input cannot exhaust the
// stack.
#pragma once

#include <vector>

#include "base/status.h"
#include "model/jinja/ast.h"
#include "model/jinja/lexer.h"

namespace shoal::model::jinja {

inline constexpr int kMaxParseDepth = 200;

StatusOr<Body> Parse(const std::vector<Token>& tokens);

}  // namespace shoal::model::jinja
