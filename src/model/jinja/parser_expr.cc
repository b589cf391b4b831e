// Expressions: Jinja's precedence (conditional, or, and, not, comparisons, + -, ~, * / // %, **,
// unary, then postfix access, filters and tests), literals and calls.
#include <cstdlib>

#include "model/jinja/parser_internal.h"

namespace shoal::model::jinja::internal {

StatusOr<ExprPtr> Parser::ParseTupleOrExpr() {
  const Pos pos = Cur().pos;
  SHOAL_ASSIGN_OR_RETURN(ExprPtr first, ParseExpr());
  if (!IsOp(",")) return first;
  ExprPtr t = Make(Expr::K::kTuple, pos);
  t->args.push_back(std::move(first));
  while (AcceptOp(",")) {
    if (Cur().type == Tok::kBlockEnd || Cur().type == Tok::kVarEnd) break;
    SHOAL_ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
    t->args.push_back(std::move(e));
  }
  return t;
}

StatusOr<ExprPtr> Parser::ParseExpr(bool allow_cond) {
  DepthGuard g(&depth_);
  SHOAL_RETURN_IF_ERROR(CheckDepth());
  SHOAL_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
  while (allow_cond && IsName("if")) {
    const Pos pos = Cur().pos;
    Next();
    ExprPtr c = Make(Expr::K::kCond, pos);
    SHOAL_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
    ExprPtr other;
    if (AcceptName("else")) {
      SHOAL_ASSIGN_OR_RETURN(other, ParseExpr());
    }
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(cond));
    c->args.push_back(std::move(other));
    e = std::move(c);
  }
  return e;
}

StatusOr<ExprPtr> Parser::ParseOr() {
  SHOAL_ASSIGN_OR_RETURN(ExprPtr l, ParseAnd());
  while (IsName("or")) {
    ExprPtr e = Make(Expr::K::kOr, Cur().pos);
    Next();
    SHOAL_ASSIGN_OR_RETURN(ExprPtr r, ParseAnd());
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    l = std::move(e);
  }
  return l;
}

StatusOr<ExprPtr> Parser::ParseAnd() {
  SHOAL_ASSIGN_OR_RETURN(ExprPtr l, ParseNot());
  while (IsName("and")) {
    ExprPtr e = Make(Expr::K::kAnd, Cur().pos);
    Next();
    SHOAL_ASSIGN_OR_RETURN(ExprPtr r, ParseNot());
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    l = std::move(e);
  }
  return l;
}

StatusOr<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    DepthGuard g(&depth_);
    SHOAL_RETURN_IF_ERROR(CheckDepth());
    ExprPtr e = Make(Expr::K::kNot, Cur().pos);
    Next();
    SHOAL_ASSIGN_OR_RETURN(ExprPtr x, ParseNot());
    e->args.push_back(std::move(x));
    return e;
  }
  return ParseCompare();
}

StatusOr<ExprPtr> Parser::ParseCompare() {
  const Pos pos = Cur().pos;
  SHOAL_ASSIGN_OR_RETURN(ExprPtr l, ParseMath1());
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (Cur().type == Tok::kOp &&
        (Cur().value == "==" || Cur().value == "!=" || Cur().value == "<" || Cur().value == "<=" ||
         Cur().value == ">" || Cur().value == ">=")) {
      op = Cur().value;
      Next();
    } else if (IsName("in")) {
      op = "in";
      Next();
    } else if (IsName("not") && Peek().type == Tok::kName && Peek().value == "in") {
      op = "notin";
      Next();
      Next();
    } else {
      break;
    }
    if (!cmp) {
      cmp = Make(Expr::K::kCompare, pos);
      cmp->args.push_back(std::move(l));
    }
    SHOAL_ASSIGN_OR_RETURN(ExprPtr r, ParseMath1());
    cmp->ops.push_back(op);
    cmp->args.push_back(std::move(r));
  }
  if (cmp) return cmp;
  return l;
}

StatusOr<ExprPtr> Parser::Binary(StatusOr<ExprPtr> (Parser::*sub)(),
                                 std::initializer_list<const char*> ops) {
  SHOAL_ASSIGN_OR_RETURN(ExprPtr l, (this->*sub)());
  while (Cur().type == Tok::kOp) {
    const char* found = nullptr;
    for (const char* o : ops) {
      if (Cur().value == o) found = o;
    }
    if (!found) break;
    ExprPtr e = Make(Expr::K::kBinary, Cur().pos);
    e->name = found;
    Next();
    SHOAL_ASSIGN_OR_RETURN(ExprPtr r, (this->*sub)());
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    l = std::move(e);
  }
  return l;
}

StatusOr<ExprPtr> Parser::ParseUnary(bool with_filter) {
  DepthGuard g(&depth_);
  SHOAL_RETURN_IF_ERROR(CheckDepth());
  ExprPtr e;
  if (IsOp("-") || IsOp("+")) {
    e = Make(Expr::K::kUnary, Cur().pos);
    e->name = Cur().value;
    Next();
    SHOAL_ASSIGN_OR_RETURN(ExprPtr x, ParseUnary(false));
    e->args.push_back(std::move(x));
  } else {
    SHOAL_ASSIGN_OR_RETURN(e, ParsePrimary());
  }
  SHOAL_ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
  if (with_filter) {
    SHOAL_ASSIGN_OR_RETURN(e, ParseFilters(std::move(e)));
  }
  return e;
}

StatusOr<ExprPtr> Parser::ParseFilters(ExprPtr e) {
  while (true) {
    if (IsOp("|")) {
      SHOAL_ASSIGN_OR_RETURN(e, ParseFilterChain(std::move(e), true));
    } else if (IsName("is")) {
      SHOAL_ASSIGN_OR_RETURN(e, ParseTest(std::move(e)));
    } else {
      return e;
    }
  }
}

StatusOr<ExprPtr> Parser::ParseFilterChain(ExprPtr input, bool need_bar) {
  bool first = true;
  while (true) {
    if (!first || need_bar) {
      if (!AcceptOp("|")) return input;
    }
    first = false;
    ExprPtr f = Make(Expr::K::kFilter, Cur().pos);
    SHOAL_ASSIGN_OR_RETURN(f->name, ExpectName());
    while (AcceptOp(".")) {  // dotted filter names
      SHOAL_ASSIGN_OR_RETURN(std::string more, ExpectName());
      f->name += "." + more;
    }
    f->args.push_back(std::move(input));
    if (IsOp("(")) SHOAL_RETURN_IF_ERROR(ParseCallArgs(f.get()));
    input = std::move(f);
  }
}

StatusOr<ExprPtr> Parser::ParseTest(ExprPtr input) {
  ExprPtr t = Make(Expr::K::kTest, Cur().pos);
  Next();  // is
  if (AcceptName("not")) t->negated = true;
  SHOAL_ASSIGN_OR_RETURN(t->name, ExpectName());
  t->args.push_back(std::move(input));
  if (IsOp("(")) {
    SHOAL_RETURN_IF_ERROR(ParseCallArgs(t.get()));
  } else if (Cur().type == Tok::kString || Cur().type == Tok::kInt || Cur().type == Tok::kFloat ||
             IsOp("[") || IsOp("{") ||
             (Cur().type == Tok::kName && Cur().value != "else" && Cur().value != "and" &&
              Cur().value != "or" && Cur().value != "if" && Cur().value != "in" &&
              Cur().value != "not" && Cur().value != "is")) {
    SHOAL_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    SHOAL_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    t->args.push_back(std::move(arg));
  }
  return t;
}

Status Parser::ParseCallArgs(Expr* call) {
  SHOAL_RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (Cur().type == Tok::kName && Peek().type == Tok::kOp && Peek().value == "=") {
      std::string k = Cur().value;
      Next();
      Next();
      SHOAL_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
      call->kwargs.emplace_back(std::move(k), std::move(v));
    } else {
      if (!call->kwargs.empty()) return Err("positional argument after keyword argument");
      SHOAL_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
      call->args.push_back(std::move(v));
    }
    if (!AcceptOp(",")) break;
  }
  return ExpectOp(")");
}

StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr e) {
  while (true) {
    const Pos pos = Cur().pos;
    if (AcceptOp(".")) {
      ExprPtr g = Make(Expr::K::kGetAttr, pos);
      if (Cur().type == Tok::kInt) {
        g->k = Expr::K::kGetItem;
        ExprPtr idx = Make(Expr::K::kLiteral, Cur().pos);
        idx->literal = Value::Int(std::strtoll(Cur().value.c_str(), nullptr, 10));
        Next();
        g->args.push_back(std::move(e));
        g->args.push_back(std::move(idx));
      } else {
        SHOAL_ASSIGN_OR_RETURN(g->name, ExpectName());
        g->args.push_back(std::move(e));
      }
      e = std::move(g);
    } else if (AcceptOp("[")) {
      SHOAL_ASSIGN_OR_RETURN(e, ParseSubscript(std::move(e), pos));
    } else if (IsOp("(")) {
      ExprPtr c = Make(Expr::K::kCall, e->pos);
      c->args.push_back(std::move(e));
      SHOAL_RETURN_IF_ERROR(ParseCallArgs(c.get()));
      e = std::move(c);
    } else {
      return e;
    }
  }
}

StatusOr<ExprPtr> Parser::ParseSubscript(ExprPtr obj, Pos pos) {
  ExprPtr parts[3];
  int n = 0;
  bool is_slice = false;
  while (true) {
    if (IsOp(":")) {
      is_slice = true;
      Next();
      if (++n > 2) return Err("too many ':' in slice");
      continue;
    }
    if (IsOp("]")) break;
    if (parts[n]) return Err("expected ':' or ']' in subscript");
    SHOAL_ASSIGN_OR_RETURN(parts[n], ParseExpr());
  }
  SHOAL_RETURN_IF_ERROR(ExpectOp("]"));
  ExprPtr e = Make(is_slice ? Expr::K::kSlice : Expr::K::kGetItem, pos);
  e->args.push_back(std::move(obj));
  if (!is_slice) {
    if (!parts[0]) return Err("empty subscript");
    e->args.push_back(std::move(parts[0]));
    return e;
  }
  for (auto& p : parts) e->args.push_back(std::move(p));
  return e;
}

StatusOr<ExprPtr> Parser::ParsePrimary() {
  DepthGuard g(&depth_);
  SHOAL_RETURN_IF_ERROR(CheckDepth());
  const Token& tok = Cur();
  const Pos pos = tok.pos;
  ExprPtr e = Make(Expr::K::kLiteral, pos);
  switch (tok.type) {
    case Tok::kString: {
      std::string s;
      while (Cur().type == Tok::kString) {  // adjacent literals concatenate
        s += Cur().value;
        Next();
      }
      e->literal = Value::String(std::move(s));
      return e;
    }
    case Tok::kInt:
      e->literal = Value::Int(std::strtoll(tok.value.c_str(), nullptr, 10));
      Next();
      return e;
    case Tok::kFloat:
      e->literal = Value::Float(std::strtod(tok.value.c_str(), nullptr));
      Next();
      return e;
    case Tok::kName: {
      const std::string& n = tok.value;
      if (n == "true" || n == "True") {
        e->literal = Value::Bool(true);
      } else if (n == "false" || n == "False") {
        e->literal = Value::Bool(false);
      } else if (n == "none" || n == "None") {
        e->literal = Value::None();
      } else {
        e->k = Expr::K::kName;
        e->name = n;
        if (n == "varargs" && !macros_.empty()) macros_.back()->uses_varargs = true;
      }
      Next();
      return e;
    }
    case Tok::kOp:
      break;
    default:
      return Err("expected an expression, got " + Describe());
  }
  if (AcceptOp("(")) {
    if (AcceptOp(")")) {
      e->k = Expr::K::kTuple;
      return e;
    }
    SHOAL_ASSIGN_OR_RETURN(ExprPtr first, ParseExpr());
    if (AcceptOp(")")) return first;
    e->k = Expr::K::kTuple;
    e->args.push_back(std::move(first));
    while (AcceptOp(",")) {
      if (IsOp(")")) break;
      SHOAL_ASSIGN_OR_RETURN(ExprPtr x, ParseExpr());
      e->args.push_back(std::move(x));
    }
    SHOAL_RETURN_IF_ERROR(ExpectOp(")"));
    return e;
  }
  if (AcceptOp("[")) {
    e->k = Expr::K::kList;
    while (!IsOp("]")) {
      SHOAL_ASSIGN_OR_RETURN(ExprPtr x, ParseExpr());
      e->args.push_back(std::move(x));
      if (!AcceptOp(",")) break;
    }
    SHOAL_RETURN_IF_ERROR(ExpectOp("]"));
    return e;
  }
  if (AcceptOp("{")) {
    e->k = Expr::K::kDict;
    while (!IsOp("}")) {
      SHOAL_ASSIGN_OR_RETURN(ExprPtr k, ParseExpr());
      SHOAL_RETURN_IF_ERROR(ExpectOp(":"));
      SHOAL_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
      e->args.push_back(std::move(k));
      e->args.push_back(std::move(v));
      if (!AcceptOp(",")) break;
    }
    SHOAL_RETURN_IF_ERROR(ExpectOp("}"));
    return e;
  }
  return Err("expected an expression, got " + Describe());
}

}  // namespace shoal::model::jinja::internal
