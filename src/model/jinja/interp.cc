// Statements: output, if, for (with loop.*), set (names, tuples, namespace attributes, blocks),
// macros and their calls, filter blocks, with, break/continue, do.
#include "model/jinja/interp.h"

#include <cctype>

namespace shoal::model::jinja {

namespace {

bool HasPos(const std::string& m) {
  size_t k = 0;
  while (k < m.size() && std::isdigit(static_cast<unsigned char>(m[k]))) ++k;
  if (k == 0 || k >= m.size() || m[k] != ':') return false;
  size_t j = k + 1;
  while (j < m.size() && std::isdigit(static_cast<unsigned char>(m[j]))) ++j;
  return j > k + 1 && j < m.size() && m[j] == ':';
}

}  // namespace

Status AtPos(const Status& s, Pos p) {
  if (s.ok() || HasPos(s.message())) return s;
  return Status(s.code(), PosText(p) + ": " + s.message());
}

Interp::Interp(const RenderLimits& limits, std::function<std::time_t()> now)
    : limits_(limits), now_(std::move(now)) {}

Status Interp::Step() {
  if (++steps_ > limits_.max_steps) {
    return ResourceExhausted("template ran more than " + std::to_string(limits_.max_steps) +
                             " steps");
  }
  return Status::Ok();
}

StatusOr<std::string> Interp::Render(const Body& body, const Value& vars) {
  frames_.clear();
  frames_.push_back(std::make_shared<Frame>());
  if (vars.is_dict()) {
    for (const auto& [k, v] : vars.dict->items) (*frames_[0])[k] = v;
  }
  std::string out;
  out_ = &out;
  out_total_ = 0;
  steps_ = 0;
  call_depth_ = 0;
  StatusOr<Flow> f = Exec(body);
  out_ = nullptr;
  if (!f.ok()) return f.status();
  return out;
}

Status Interp::Emit(std::string_view text) {
  out_total_ += text.size();
  if (out_total_ > limits_.max_output_bytes) {
    return ResourceExhausted("template output exceeds " + std::to_string(limits_.max_output_bytes) +
                             " bytes");
  }
  out_->append(text);
  return Status::Ok();
}

StatusOr<std::string> Interp::Capture(const Body& body) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  StatusOr<Flow> f = Exec(body);
  out_ = saved;
  if (!f.ok()) return f.status();
  return buf;
}

Value Interp::Lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto f = (*it)->find(name);
    if (f != (*it)->end()) return f->second;
  }
  Value g = GetGlobal(name);
  if (!g.is_undefined()) return g;
  return Value::Undefined(std::string("'") + name + "' is undefined");
}

void Interp::Assign(const std::string& name, Value v) { (*frames_.back())[name] = std::move(v); }

StatusOr<Interp::Flow> Interp::Exec(const Body& body) {
  for (const NodePtr& n : body) {
    StatusOr<Flow> f = ExecNode(*n);
    if (!f.ok()) return AtPos(f.status(), n->pos);
    if (*f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

StatusOr<Interp::Flow> Interp::ExecNode(const Node& n) {
  SHOAL_RETURN_IF_ERROR(Step());
  switch (n.k) {
    case Node::K::kText:
      SHOAL_RETURN_IF_ERROR(Emit(n.text));
      return Flow::kNormal;
    case Node::K::kOutput: {
      SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
      SHOAL_RETURN_IF_ERROR(Emit(v.Str()));
      return Flow::kNormal;
    }
    case Node::K::kIf:
      for (const auto& [cond, body] : n.branches) {
        bool take = true;
        if (cond) {
          SHOAL_ASSIGN_OR_RETURN(Value c, Eval(*cond));
          take = c.Truthy();
        }
        if (take) return Exec(body);
      }
      return Flow::kNormal;
    case Node::K::kFor:
      return ExecFor(n);
    case Node::K::kSet:
      SHOAL_RETURN_IF_ERROR(ExecSet(n));
      return Flow::kNormal;
    case Node::K::kSetBlock: {
      SHOAL_ASSIGN_OR_RETURN(std::string text, Capture(n.body));
      Value v = Value::String(std::move(text));
      if (n.expr) {
        // The filter chain's innermost input is null: feed the captured text through it.
        std::vector<const Expr*> chain;
        for (const Expr* f = n.expr.get(); f; f = f->args[0].get()) chain.push_back(f);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(**it, 1));
          SHOAL_ASSIGN_OR_RETURN(v, ApplyFilter((*it)->name, v, args));
        }
      }
      Assign(n.targets[0], std::move(v));
      return Flow::kNormal;
    }
    case Node::K::kMacro:
      Assign(n.name, MakeMacro(n));
      return Flow::kNormal;
    case Node::K::kFilterBlock: {
      SHOAL_ASSIGN_OR_RETURN(std::string text, Capture(n.body));
      Value v = Value::String(std::move(text));
      std::vector<const Expr*> chain;
      for (const Expr* f = n.expr.get(); f; f = f->args[0].get()) chain.push_back(f);
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(**it, 1));
        SHOAL_ASSIGN_OR_RETURN(v, ApplyFilter((*it)->name, v, args));
      }
      SHOAL_RETURN_IF_ERROR(Emit(v.Str()));
      return Flow::kNormal;
    }
    case Node::K::kBreak:
      return Flow::kBreak;
    case Node::K::kContinue:
      return Flow::kContinue;
    case Node::K::kDo: {
      SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
      (void)v;
      return Flow::kNormal;
    }
    case Node::K::kWith: {
      std::vector<Value> vals;
      for (const ExprPtr& e : n.values) {
        SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*e));
        vals.push_back(std::move(v));
      }
      frames_.push_back(std::make_shared<Frame>());
      for (size_t k = 0; k < vals.size(); ++k) Assign(n.targets[k], std::move(vals[k]));
      StatusOr<Flow> f = Exec(n.body);
      frames_.pop_back();
      return f;
    }
    case Node::K::kCallBlock: {
      const Node* body_node = &n;
      Value caller =
          Value::Function("caller", [this, body_node](Interp&, CallArgs&) -> StatusOr<Value> {
            SHOAL_ASSIGN_OR_RETURN(std::string text, Capture(body_node->body));
            return Value::String(std::move(text));
          });
      const Expr& call = *n.expr;
      SHOAL_ASSIGN_OR_RETURN(Value fn, Eval(*call.args[0]));
      SHOAL_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call, 1));
      args.kwargs.emplace_back("caller", caller);
      SHOAL_ASSIGN_OR_RETURN(Value r, Call(fn, args));
      SHOAL_RETURN_IF_ERROR(Emit(r.Str()));
      return Flow::kNormal;
    }
  }
  return Flow::kNormal;
}

StatusOr<Interp::Flow> Interp::ExecFor(const Node& n) {
  SHOAL_ASSIGN_OR_RETURN(Value seq, Eval(*n.expr));
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(seq));
  frames_.push_back(std::make_shared<Frame>());
  struct Pop {
    std::vector<std::shared_ptr<Frame>>* f;
    ~Pop() { f->pop_back(); }
  } pop{&frames_};
  auto bind = [&](const Value& item) -> Status {
    if (!n.target_tuple) {
      Assign(n.targets[0], item);
      return Status::Ok();
    }
    SHOAL_ASSIGN_OR_RETURN(std::vector<Value> parts, Iterate(item));
    if (parts.size() != n.targets.size()) {
      return InvalidArgument("cannot unpack " + std::to_string(parts.size()) + " values into " +
                             std::to_string(n.targets.size()) + " loop variables");
    }
    for (size_t k = 0; k < parts.size(); ++k) Assign(n.targets[k], parts[k]);
    return Status::Ok();
  };
  if (n.cond) {  // for x in xs if cond: filter first, so loop.* counts the kept items
    std::vector<Value> kept;
    for (const Value& item : items) {
      SHOAL_RETURN_IF_ERROR(Step());
      SHOAL_RETURN_IF_ERROR(bind(item));
      SHOAL_ASSIGN_OR_RETURN(Value c, Eval(*n.cond));
      if (c.Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    frames_.pop_back();
    frames_.push_back(std::make_shared<Frame>());
    StatusOr<Flow> f = Exec(n.else_body);
    if (!f.ok()) return f.status();
    return Flow::kNormal;
  }
  const int64_t len = static_cast<int64_t>(items.size());
  Value cycle_items = Value::List(items);
  for (int64_t k = 0; k < len; ++k) {
    SHOAL_RETURN_IF_ERROR(Step());
    Value loop = Value::Dict();
    ValueDict& d = *loop.dict;
    d.Set("index", Value::Int(k + 1));
    d.Set("index0", Value::Int(k));
    d.Set("revindex", Value::Int(len - k));
    d.Set("revindex0", Value::Int(len - k - 1));
    d.Set("first", Value::Bool(k == 0));
    d.Set("last", Value::Bool(k == len - 1));
    d.Set("length", Value::Int(len));
    d.Set("depth", Value::Int(1));
    d.Set("depth0", Value::Int(0));
    d.Set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)]
                            : Value::Undefined("there is no previous item"));
    d.Set("nextitem", k + 1 < len ? items[static_cast<size_t>(k + 1)]
                                  : Value::Undefined("there is no next item"));
    d.Set("cycle", Value::Function("loop.cycle", [k](Interp&, CallArgs& a) -> StatusOr<Value> {
            if (a.positional.empty()) return InvalidArgument("loop.cycle needs arguments");
            return a.positional[static_cast<size_t>(k) % a.positional.size()];
          }));
    Assign("loop", std::move(loop));
    SHOAL_RETURN_IF_ERROR(bind(items[static_cast<size_t>(k)]));
    SHOAL_ASSIGN_OR_RETURN(Flow f, Exec(n.body));
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Status Interp::ExecSet(const Node& n) {
  SHOAL_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
  if (!n.attr.empty()) {
    Value ns = Lookup(n.targets[0]);
    if (!ns.is_dict() || !ns.is_namespace) {
      return InvalidArgument("cannot assign attribute on non-namespace object '" + n.targets[0] +
                             "'");
    }
    ns.dict->Set(n.attr, std::move(v));
    return Status::Ok();
  }
  if (!n.target_tuple) {
    Assign(n.targets[0], std::move(v));
    return Status::Ok();
  }
  SHOAL_ASSIGN_OR_RETURN(std::vector<Value> parts, Iterate(v));
  if (parts.size() != n.targets.size()) {
    return InvalidArgument("cannot unpack " + std::to_string(parts.size()) + " values into " +
                           std::to_string(n.targets.size()) + " names");
  }
  for (size_t k = 0; k < parts.size(); ++k) Assign(n.targets[k], parts[k]);
  return Status::Ok();
}

Value Interp::MakeMacro(const Node& n) {
  const Node* node = &n;
  return Value::Function(n.name, [node](Interp& in, CallArgs& args) -> StatusOr<Value> {
    return in.CallMacro(*node, args, nullptr);
  });
}

StatusOr<Value> Interp::CallMacro(const Node& n, CallArgs& args, const Value*) {
  if (call_depth_ >= limits_.max_call_depth) {
    return ResourceExhausted("macro calls nested deeper than " +
                             std::to_string(limits_.max_call_depth));
  }
  if (args.positional.size() > n.params.size() && !n.uses_varargs) {
    return InvalidArgument("macro '" + n.name + "' takes not more than " +
                           std::to_string(n.params.size()) + " arguments");
  }
  auto frame = std::make_shared<Frame>();
  std::vector<std::shared_ptr<Frame>> saved = {frames_[0], frame};
  saved.swap(frames_);
  struct Restore {
    Interp* in;
    std::vector<std::shared_ptr<Frame>>* saved;
    ~Restore() {
      in->frames_.swap(*saved);
      --in->call_depth_;
    }
  } restore{this, &saved};
  ++call_depth_;
  for (size_t k = 0; k < n.params.size(); ++k) {
    const std::string& p = n.params[k].first;
    if (k < args.positional.size()) {
      (*frame)[p] = args.positional[k];
    } else if (const Value* kw = args.Kwarg(p)) {
      (*frame)[p] = *kw;
    } else if (n.params[k].second) {
      SHOAL_ASSIGN_OR_RETURN(Value d, Eval(*n.params[k].second));
      (*frame)[p] = std::move(d);
    } else {
      (*frame)[p] = Value::Undefined(std::string("'") + p + "' is undefined");
    }
  }
  for (const auto& [k, v] : args.kwargs) {
    bool known = k == "caller";
    for (const auto& p : n.params) known |= p.first == k;
    if (!known)
      return InvalidArgument("macro '" + n.name + "' takes no keyword argument '" + k + "'");
    if (k == "caller") (*frame)[k] = v;
  }
  std::vector<Value> extra(args.positional.begin() + static_cast<ptrdiff_t>(std::min(
                                                         args.positional.size(), n.params.size())),
                           args.positional.end());
  (*frame)["varargs"] = Value::Tuple(std::move(extra));
  SHOAL_ASSIGN_OR_RETURN(std::string text, Capture(n.body));
  return Value::String(std::move(text));
}

}  // namespace shoal::model::jinja
