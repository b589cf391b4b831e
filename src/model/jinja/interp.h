// The Jinja evaluator: runs a parsed template against a context of variables. Every failure
// (raise_exception, a type error, a limit) is an InvalidArgument "LINE:COL: ..." naming where
// in the template it happened.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/jinja/ast.h"
#include "model/jinja/value.h"

namespace shoal::model::jinja {

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;  // the rendered text
  int max_call_depth = 64;              // nested macro calls
  uint64_t max_steps = 20'000'000;      // statements, expressions and loop iterations
};

class Interp {
 public:
  Interp(const RenderLimits& limits, std::function<std::time_t()> now);

  // Renders `body` with `vars` (a dict value) as the template's globals.
  StatusOr<std::string> Render(const Body& body, const Value& vars);

  // Used by filters, tests, methods and builtins.
  StatusOr<Value> Call(const Value& fn, CallArgs& args);
  StatusOr<Value> ApplyFilter(const std::string& name, const Value& input, CallArgs& args);
  StatusOr<bool> ApplyTest(const std::string& name, const Value& input, CallArgs& args);
  // Attribute (obj.name) and item (obj[key]) access with Jinja's rules.
  StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
  StatusOr<Value> GetItem(const Value& obj, const Value& key);
  std::time_t Now() const { return now_(); }
  Status Step();  // counts one unit of work against max_steps

 private:
  using Frame = std::unordered_map<std::string, Value>;
  enum class Flow : uint8_t { kNormal, kBreak, kContinue };

  StatusOr<Flow> Exec(const Body& body);
  StatusOr<Flow> ExecNode(const Node& n);
  StatusOr<Flow> ExecFor(const Node& n);
  Status ExecSet(const Node& n);
  Status Emit(std::string_view text);
  StatusOr<std::string> Capture(const Body& body);
  Value MakeMacro(const Node& n);
  StatusOr<Value> CallMacro(const Node& n, CallArgs& args, const Value* caller);

  StatusOr<Value> Eval(const Expr& e);
  StatusOr<Value> EvalInner(const Expr& e);
  StatusOr<Value> EvalBinary(const Expr& e);
  StatusOr<Value> EvalCompare(const Expr& e);
  StatusOr<Value> EvalSlice(const Expr& e);
  StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first);
  Value Lookup(const std::string& name) const;
  void Assign(const std::string& name, Value v);

  RenderLimits limits_;
  std::function<std::time_t()> now_;
  std::vector<std::shared_ptr<Frame>> frames_;  // [0]: the template's globals
  std::string* out_ = nullptr;
  size_t out_total_ = 0;  // bytes emitted into any buffer (bounds captures too)
  int call_depth_ = 0;
  uint64_t steps_ = 0;
};

// Builtins (filters.cc, tests.cc, methods.cc, globals.cc).
StatusOr<Value> CallFilter(Interp& in, const std::string& name, const Value& input, CallArgs& args);
StatusOr<bool> CallTest(Interp& in, const std::string& name, const Value& input, CallArgs& args);
// A bound method of a str, list or dict (obj.name), or Undefined when there is none.
Value GetMethod(const Value& obj, const std::string& name);
// The global functions: range, namespace, dict, raise_exception, strftime_now, joiner, cycler.
Value GetGlobal(const std::string& name);

// Helpers shared by the builtins.
Status UndefinedError(const Value& v);  // "'x' is undefined"
Status CheckArgs(const CallArgs& args, const char* fn, size_t min_pos, size_t max_pos);
const Value* Arg(const CallArgs& args, size_t pos, std::string_view kw);
StatusOr<std::vector<Value>> Iterate(const Value& v);  // list items, dict keys, string chars
int64_t Utf8Length(std::string_view s);

}  // namespace shoal::model::jinja
