// String operations with Python's semantics, used by the str methods and the filters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/jinja/value.h"

namespace shoal::model::jinja {

// str.strip / lstrip / rstrip; chars null: Python's whitespace (Unicode spaces included).
std::string Strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split() without a separator: runs of whitespace, no empty parts.
std::vector<std::string> SplitWhitespace(std::string_view s, int64_t maxsplit, bool from_right);
// str.split(sep, maxsplit) / rsplit.
std::vector<std::string> Split(std::string_view s, std::string_view sep, int64_t maxsplit,
                               bool from_right);
std::vector<std::string> SplitLines(std::string_view s);  // \n, \r\n, \r
std::string Replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// "upper", "lower", "title" (str.title), "capitalize", "swapcase", "jinja_title" (the title
// filter); ASCII letters change case, other characters stay.
std::string ChangeCase(std::string_view s, std::string_view how);
bool CharClass(std::string_view s, std::string_view how);  // isdigit, isalpha, ...
// str.format with {} {0} {name} fields and {{ }} escapes (format specs are not supported).
StatusOr<Value> BraceFormat(const std::string& fmt, const CallArgs& args);
// str % args with %s %r %d %i %f %e %g %% (flags, width and precision for numbers).
StatusOr<Value> PercentFormat(const std::string& fmt, const Value& arg);

}  // namespace shoal::model::jinja
