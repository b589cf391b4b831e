#include "model/jinja/parser.h"

#include <cstdlib>
#include <initializer_list>

namespace shoal::model::jinja {
namespace {

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
  Status ParseBody(std::initializer_list<const char*> ends, Body* body, std::string* end) {
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

  StatusOr<NodePtr> ParseStatement() {
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

  Status ParseTargets(Node* n) {
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

  ExprPtr Make(Expr::K k, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->k = k;
    e->pos = pos;
    return e;
  }

  // a, b, c (a tuple) or a single expression.
  StatusOr<ExprPtr> ParseTupleOrExpr() {
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

  StatusOr<ExprPtr> ParseExpr(bool allow_cond = true) {
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

  StatusOr<ExprPtr> ParseOr() {
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

  StatusOr<ExprPtr> ParseAnd() {
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

  StatusOr<ExprPtr> ParseNot() {
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

  StatusOr<ExprPtr> ParseCompare() {
    const Pos pos = Cur().pos;
    SHOAL_ASSIGN_OR_RETURN(ExprPtr l, ParseMath1());
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (Cur().type == Tok::kOp &&
          (Cur().value == "==" || Cur().value == "!=" || Cur().value == "<" ||
           Cur().value == "<=" || Cur().value == ">" || Cur().value == ">=")) {
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

  StatusOr<ExprPtr> Binary(StatusOr<ExprPtr> (Parser::*sub)(),
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
  StatusOr<ExprPtr> ParseMath1() { return Binary(&Parser::ParseConcat, {"+", "-"}); }
  StatusOr<ExprPtr> ParseConcat() { return Binary(&Parser::ParseMath2, {"~"}); }
  StatusOr<ExprPtr> ParseMath2() { return Binary(&Parser::ParsePow, {"*", "/", "//", "%"}); }
  StatusOr<ExprPtr> ParsePow() { return Binary(&Parser::ParseUnaryFiltered, {"**"}); }
  StatusOr<ExprPtr> ParseUnaryFiltered() { return ParseUnary(true); }

  StatusOr<ExprPtr> ParseUnary(bool with_filter) {
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

  // | filter ... and `is` tests after an operand.
  StatusOr<ExprPtr> ParseFilters(ExprPtr e) {
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

  StatusOr<ExprPtr> ParseFilterChain(ExprPtr input, bool need_bar) {
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

  StatusOr<ExprPtr> ParseTest(ExprPtr input) {
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

  Status ParseCallArgs(Expr* call) {
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

  StatusOr<ExprPtr> ParsePostfix(ExprPtr e) {
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

  StatusOr<ExprPtr> ParseSubscript(ExprPtr obj, Pos pos) {
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

  StatusOr<ExprPtr> ParsePrimary() {
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

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

StatusOr<Body> Parse(const std::vector<Token>& tokens) {
  if (tokens.empty() || tokens.back().type != Tok::kEof) return InvalidArgument("no tokens");
  return Parser(tokens).Run();
}

}  // namespace shoal::model::jinja
