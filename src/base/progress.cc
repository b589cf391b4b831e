#include "base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace shoal {
namespace {

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) b /= 1024, ++i;
  char buf[32];
  std::snprintf(buf, sizeof(buf), i == 0 ? "%.0f %s" : "%.1f %s", b, units[i]);
  return buf;
}

std::string Seconds(double s) {
  const int64_t t = int64_t(std::llround(std::max(0.0, s)));
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", (long long)(t / 3600),
                  (long long)(t / 60 % 60));
  } else if (t >= 60) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%llds", (long long)t);
  }
  return buf;
}

}  // namespace

std::string FormatProgress(const std::string& label, uint64_t done, uint64_t total,
                           const std::string& unit, double elapsed_s, int bar_width) {
  done = std::min(done, total);
  const double frac = total > 0 ? double(done) / double(total) : 1.0;
  std::string s = label;
  if (bar_width > 0) {
    const int fill = int(frac * bar_width);
    s += " [";
    s += std::string(size_t(fill), '=');
    if (fill < bar_width) s += '>' + std::string(size_t(bar_width - fill - 1), ' ');
    s += ']';
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), " %3d%%", int(frac * 100));
  s += buf;
  if (unit == "B") {
    s += "  " + Bytes(double(done)) + " of " + Bytes(double(total));
    if (elapsed_s > 0) s += "  " + Bytes(double(done) / elapsed_s) + "/s";
  } else {
    s += "  " + std::to_string(done) + "/" + std::to_string(total);
    if (!unit.empty()) s += " " + unit;
  }
  if (done >= total) {
    s += "  " + Seconds(elapsed_s);
  } else if (done > 0 && elapsed_s > 0) {
    s += "  " + Seconds(elapsed_s * double(total - done) / double(done)) + " left";
  }
  return s;
}

Progress::Progress(std::string label, uint64_t total, std::string unit, FILE* out)
    : Progress(std::move(label), total, std::move(unit), out, isatty(fileno(out)) == 1) {}

Progress::Progress(std::string label, uint64_t total, std::string unit, FILE* out, bool tty,
                   double line_interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      out_(out),
      tty_(tty),
      line_interval_s_(line_interval_s),
      start_s_(NowS()) {
  Draw(false);
}

Progress::~Progress() { Finish(); }

double Progress::Elapsed() const { return NowS() - start_s_; }

void Progress::Update(uint64_t done) {
  if (finished_) return;
  done_ = std::min(done, total_);
  const double now = NowS();
  if (now - last_draw_s_ < (tty_ ? 0.1 : line_interval_s_)) return;
  Draw(false);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  Draw(true);
}

void Progress::Draw(bool last) {
  last_draw_s_ = NowS();
  const std::string line = FormatProgress(label_, done_, total_, unit_, Elapsed(), tty_ ? 30 : 0);
  if (tty_) {
    // \r and clear to the end of the line: the bar redraws in place.
    std::fprintf(out_, "\r%s\x1b[K%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace shoal
