// Statements: the body of text, {{ }} and {% %} tags, and each statement's syntax.
#include "model/jinja/parser.h"

#include "model/jinja/parser_internal.h"

namespace shoal::model::jinja {
namespace internal {

Status Parser::ParseBody(std::initializer_list<const char*> ends, Body* body, std::string* end) {
  DepthGuard g(&depth_);
  SHOAL_RETURN_IF_ERROR(CheckDepth());
  while (true) {
    const Token& tok = Cur();
    if (tok.type == Tok::kEof) {
      if (ends.size() == 0) return Status::Ok();
      return Err(std::string("unexpected end of template: expected '{% ") + *(ends.end() - 1) +
                 " %}'");
    }
    if (tok.type == Tok::kText) {
      auto n = std::make_unique<Node>();
      n->k = Node::K::kText;
      n->pos = tok.pos;
      n->text = tok.value;
      body->push_back(std::move(n));
      Next();
      continue;
    }
    if (tok.type == Tok::kVarBegin) {
      auto n = std::make_unique<Node>();
      n->k = Node::K::kOutput;
      n->pos = tok.pos;
      Next();
      SHOAL_ASSIGN_OR_RETURN(n->expr, ParseExpr());
      if (Cur().type != Tok::kVarEnd) return Err("expected '}}', got " + Describe());
      Next();
      body->push_back(std::move(n));
      continue;
    }
    if (tok.type != Tok::kBlockBegin) return Err("unexpected " + Describe());
    const Token& kw = Peek();
    if (kw.type != Tok::kName) {
      Next();
      return Err("expected a statement keyword");
    }
    for (const char* e : ends) {
      if (kw.value == e) {
        Next();  // onto the keyword
        *end = kw.value;
        return Status::Ok();
      }
    }
    Next();
    SHOAL_ASSIGN_OR_RETURN(NodePtr n, ParseStatement());
    if (n) body->push_back(std::move(n));
  }
}

StatusOr<NodePtr> Parser::ParseStatement() {
  const Token kw = Cur();
  auto n = std::make_unique<Node>();
  n->pos = kw.pos;
  Next();
  const std::string& k = kw.value;
  std::string end;
  if (k == "if") {
    n->k = Node::K::kIf;
    SHOAL_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpr());
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    while (true) {
      Body b;
      SHOAL_RETURN_IF_ERROR(ParseBody({"elif", "else", "endif"}, &b, &end));
      Next();
      n->branches.emplace_back(std::move(cond), std::move(b));
      if (end == "endif") break;
      if (end == "else") {
        SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
        Body eb;
        SHOAL_RETURN_IF_ERROR(ParseBody({"endif"}, &eb, &end));
        Next();
        n->branches.emplace_back(nullptr, std::move(eb));
        break;
      }
      SHOAL_ASSIGN_OR_RETURN(cond, ParseExpr());
      SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    }
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "for") {
    n->k = Node::K::kFor;
    SHOAL_RETURN_IF_ERROR(ParseTargets(n.get()));
    if (!AcceptName("in")) return Err("expected 'in' in for loop, got " + Describe());
    SHOAL_ASSIGN_OR_RETURN(n->expr, ParseExpr(/*allow_cond=*/false));
    if (AcceptName("if")) {
      SHOAL_ASSIGN_OR_RETURN(n->cond, ParseExpr());
    }
    AcceptName("recursive");
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"else", "endfor"}, &n->body, &end));
    Next();
    if (end == "else") {
      SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
      SHOAL_RETURN_IF_ERROR(ParseBody({"endfor"}, &n->else_body, &end));
      Next();
    }
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "set") {
    SHOAL_RETURN_IF_ERROR(ParseTargets(n.get()));
    if (AcceptOp(".")) {
      if (n->target_tuple) return Err("cannot set an attribute of a tuple");
      SHOAL_ASSIGN_OR_RETURN(n->attr, ExpectName());
    }
    if (AcceptOp("=")) {
      n->k = Node::K::kSet;
      SHOAL_ASSIGN_OR_RETURN(n->expr, ParseTupleOrExpr());
      SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
      return n;
    }
    if (n->target_tuple || !n->attr.empty()) return Err("expected '=' in set");
    n->k = Node::K::kSetBlock;
    if (IsOp("|")) {
      SHOAL_ASSIGN_OR_RETURN(n->expr, ParseFilters(nullptr));
    }
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endset"}, &n->body, &end));
    Next();
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "macro") {
    n->k = Node::K::kMacro;
    macros_.push_back(n.get());
    struct PopMacro {
      std::vector<Node*>* m;
      ~PopMacro() { m->pop_back(); }
    } pop_macro{&macros_};
    SHOAL_ASSIGN_OR_RETURN(n->name, ExpectName());
    SHOAL_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      SHOAL_ASSIGN_OR_RETURN(std::string p, ExpectName());
      ExprPtr def;
      if (AcceptOp("=")) {
        SHOAL_ASSIGN_OR_RETURN(def, ParseExpr());
      }
      n->params.emplace_back(std::move(p), std::move(def));
      if (!AcceptOp(",")) break;
    }
    SHOAL_RETURN_IF_ERROR(ExpectOp(")"));
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endmacro"}, &n->body, &end));
    Next();
    if (Cur().type == Tok::kName) Next();  // {% endmacro name %}
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "filter") {
    n->k = Node::K::kFilterBlock;
    SHOAL_ASSIGN_OR_RETURN(n->expr, ParseFilterChain(nullptr, /*need_bar=*/false));
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endfilter"}, &n->body, &end));
    Next();
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "call") {
    n->k = Node::K::kCallBlock;
    SHOAL_ASSIGN_OR_RETURN(n->expr, ParseExpr());
    if (n->expr->k != Expr::K::kCall) return Err("{% call %} needs a macro call");
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endcall"}, &n->body, &end));
    Next();
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "with") {
    n->k = Node::K::kWith;
    while (Cur().type == Tok::kName) {
      SHOAL_ASSIGN_OR_RETURN(std::string t, ExpectName());
      SHOAL_RETURN_IF_ERROR(ExpectOp("="));
      SHOAL_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
      n->targets.push_back(std::move(t));
      n->values.push_back(std::move(v));
      if (!AcceptOp(",")) break;
    }
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endwith"}, &n->body, &end));
    Next();
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "generation") {  // transformers' AssistantTracker marker: renders its body
    n->k = Node::K::kWith;
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    SHOAL_RETURN_IF_ERROR(ParseBody({"endgeneration"}, &n->body, &end));
    Next();
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "break" || k == "continue") {
    n->k = k == "break" ? Node::K::kBreak : Node::K::kContinue;
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  if (k == "do") {
    n->k = Node::K::kDo;
    SHOAL_ASSIGN_OR_RETURN(n->expr, ParseTupleOrExpr());
    SHOAL_RETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }
  i_ -= 1;
  return Err("unknown statement '" + k + "'");
}

Status Parser::ParseTargets(Node* n) {
  const bool paren = AcceptOp("(");
  while (true) {
    SHOAL_ASSIGN_OR_RETURN(std::string t, ExpectName());
    n->targets.push_back(std::move(t));
    if (!AcceptOp(",")) break;
    n->target_tuple = true;
    if (paren && IsOp(")")) break;
  }
  if (paren) {
    n->target_tuple = true;
    SHOAL_RETURN_IF_ERROR(ExpectOp(")"));
  }
  return Status::Ok();
}

}  // namespace internal

StatusOr<Body> Parse(const std::vector<Token>& tokens) {
  if (tokens.empty() || tokens.back().type != Tok::kEof) return InvalidArgument("no tokens");
  return internal::Parser(tokens).Run();
}

}  // namespace shoal::model::jinja
