// Stop strings matched on the generated text, not on tokens: text that could be the start of a
// stop string is held back until the next piece decides it, so a stop string split across
// tokens never reaches the client. The text before the first stop string is released; the stop
// string and everything after it are dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shoal::server {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops);

  // Appends generated text; returns the text now safe to send (possibly empty). After a stop
  // string is found, stopped() is true and Push returns nothing more.
  std::string Push(std::string_view text);
  // At the end of generation (no stop string found): whatever was held back.
  std::string Finish();
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string found

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace shoal::server
