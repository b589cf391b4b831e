// Server-sent events on an httplib chunked response: "data: ...\n\n" and ": comment\n\n". Each
// returns false when the client is gone.
#pragma once

#include <httplib.h>

#include <string>
#include <string_view>

namespace shoal::server {

inline bool SseWrite(httplib::DataSink& sink, const std::string& s) {
  return sink.is_writable() && sink.write(s.data(), s.size());
}
inline bool SseData(httplib::DataSink& sink, std::string_view data) {
  return SseWrite(sink, "data: " + std::string(data) + "\n\n");
}
inline bool SseEvent(httplib::DataSink& sink, std::string_view event, std::string_view data) {
  return SseWrite(sink, "event: " + std::string(event) + "\ndata: " + std::string(data) + "\n\n");
}
inline bool SseComment(httplib::DataSink& sink, std::string_view text) {
  return SseWrite(sink, ": " + std::string(text) + "\n\n");
}

}  // namespace shoal::server
