// The parser's class, shared by parser.cc (statements) and parser_expr.cc (expressions).
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "model/jinja/parser.h"

namespace shoal::model::jinja::internal {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  StatusOr<Body> Run() {
    Body body;
    std::string end;
    SHOAL_RETURN_IF_ERROR(ParseBody({}, &body, &end));
    if (Cur().type != Tok::kEof) return Err("unexpected '" + end + "'");
    return body;
  }

 private:
  const Token& Cur() const { return t_[i_]; }
  const Token& Peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  void Next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().value == op; }
  bool IsName(const char* n) const { return Cur().type == Tok::kName && Cur().value == n; }
  bool AcceptOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool AcceptName(const char* n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }
  Status Err(const std::string& msg) const {
    return InvalidArgument(PosText(Cur().pos) + ": " + msg);
  }
  std::string Describe() const {
    switch (Cur().type) {
      case Tok::kEof:
        return "end of template";
      case Tok::kBlockEnd:
        return "'%}'";
      case Tok::kVarEnd:
        return "'}}'";
      case Tok::kText:
        return "text";
      default:
        return std::string("'") + Cur().value + "'";
    }
  }
  Status ExpectOp(const char* op) {
    if (!AcceptOp(op)) return Err(std::string("expected '") + op + "', got " + Describe());
    return Status::Ok();
  }
  StatusOr<std::string> ExpectName() {
    if (Cur().type != Tok::kName) return Err("expected a name, got " + Describe());
    std::string n = Cur().value;
    Next();
    return n;
  }
  Status ExpectBlockEnd() {
    if (Cur().type != Tok::kBlockEnd) return Err("expected '%}', got " + Describe());
    Next();
    return Status::Ok();
  }

  struct DepthGuard {
    explicit DepthGuard(int* d) : d_(d) { ++*d_; }
    ~DepthGuard() { --*d_; }
    int* d_;
  };
  Status CheckDepth() const {
    if (depth_ > kMaxParseDepth) return Err("template nested too deeply");
    return Status::Ok();
  }

  // Parses nodes until a block tag whose keyword is in `ends` (left current, on the keyword) or
  // the end of input (an error when `ends` is not empty).
  Status ParseBody(std::initializer_list<const char*> ends, Body* body, std::string* end);

  StatusOr<NodePtr> ParseStatement();

  Status ParseTargets(Node* n);

  ExprPtr Make(Expr::K k, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->k = k;
    e->pos = pos;
    return e;
  }

  // a, b, c (a tuple) or a single expression.
  StatusOr<ExprPtr> ParseTupleOrExpr();

  StatusOr<ExprPtr> ParseExpr(bool allow_cond = true);

  StatusOr<ExprPtr> ParseOr();

  StatusOr<ExprPtr> ParseAnd();

  StatusOr<ExprPtr> ParseNot();

  StatusOr<ExprPtr> ParseCompare();

  StatusOr<ExprPtr> Binary(StatusOr<ExprPtr> (Parser::*sub)(),
                           std::initializer_list<const char*> ops);
  StatusOr<ExprPtr> ParseMath1() { return Binary(&Parser::ParseConcat, {"+", "-"}); }
  StatusOr<ExprPtr> ParseConcat() { return Binary(&Parser::ParseMath2, {"~"}); }
  StatusOr<ExprPtr> ParseMath2() { return Binary(&Parser::ParsePow, {"*", "/", "//", "%"}); }
  StatusOr<ExprPtr> ParsePow() { return Binary(&Parser::ParseUnaryFiltered, {"**"}); }
  StatusOr<ExprPtr> ParseUnaryFiltered() { return ParseUnary(true); }

  StatusOr<ExprPtr> ParseUnary(bool with_filter);

  // | filter ... and `is` tests after an operand.
  StatusOr<ExprPtr> ParseFilters(ExprPtr e);

  StatusOr<ExprPtr> ParseFilterChain(ExprPtr input, bool need_bar);

  StatusOr<ExprPtr> ParseTest(ExprPtr input);

  Status ParseCallArgs(Expr* call);

  StatusOr<ExprPtr> ParsePostfix(ExprPtr e);

  StatusOr<ExprPtr> ParseSubscript(ExprPtr obj, Pos pos);

  StatusOr<ExprPtr> ParsePrimary();

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<Node*> macros_;  // macros being parsed, innermost last
};

}  // namespace shoal::model::jinja::internal
