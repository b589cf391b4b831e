// The Jinja syntax tree: expressions and statements, each with its source position.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/lexer.h"
#include "model/jinja/value.h"

namespace shoal::model::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class K : uint8_t {
    kLiteral,  // literal
    kName,     // name
    kList,     // args: items
    kTuple,    // args: items
    kDict,     // args: key0, value0, key1, value1...
    kGetAttr,  // args[0].name
    kGetItem,  // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]], any of 1..3 may be null
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs); args[0] null inside {% filter %}
    kTest,     // args[0] is [not] name(args[1..]); negated
    kUnary,    // name ("-", "+") args[0]
    kBinary,   // args[0] name args[1]: + - * / // % ** ~
    kCompare,  // args[0] ops[0] args[1] ops[1] args[2]...: == != < <= > >= in notin
    kAnd,
    kOr,
    kNot,
    kCond,  // args[0] if args[1] else args[2] (args[2] null: undefined)
  };
  K k;
  Pos pos;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class K : uint8_t {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches: (cond, body)...; a null cond is the else branch
    kFor,          // for targets in expr [if cond]: body [else else_body]
    kSet,          // set targets = expr, or set targets[0].attr = expr (attr non-empty)
    kSetBlock,     // set targets[0] [| filter]: body
    kMacro,        // macro name(params): body
    kFilterBlock,  // filter expr (a kFilter chain whose innermost input is null): body
    kBreak,
    kContinue,
    kDo,         // do expr
    kWith,       // with (targets[i] = values[i])...: body
    kCallBlock,  // call expr: body (body is `caller()`)
  };
  K k;
  Pos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> targets;
  bool target_tuple = false;
  bool uses_varargs = false;  // a macro whose body reads `varargs`: extra arguments allowed
  std::string attr;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;
  std::vector<ExprPtr> values;
  Body body, else_body;
};

}  // namespace shoal::model::jinja
