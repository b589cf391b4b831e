// Progress of a long operation on a terminal: a bar redrawn in place when the stream is a
// terminal ("shoal bench [=======>      ] 3/8 runs  2m10s left"), plain log lines otherwise (the
// first, then at most one each `line_interval_s`, then the last), so logs stay readable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace shoal {

// One line of progress, without a line end. unit "B": sizes in KiB / MiB / GiB and a rate;
// otherwise whole counts ("3/8 runs"). The estimate of the time left needs elapsed_s > 0 and
// done > 0; bar_width 0: no bar.
std::string FormatProgress(const std::string& label, uint64_t done, uint64_t total,
                           const std::string& unit, double elapsed_s, int bar_width);

class Progress {
 public:
  // tty: redraw in place (default: whether `out` is a terminal).
  Progress(std::string label, uint64_t total, std::string unit = "", FILE* out = stderr);
  Progress(std::string label, uint64_t total, std::string unit, FILE* out, bool tty,
           double line_interval_s = 10.0);
  ~Progress();  // Finish()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` so far (at most total); a terminal is redrawn at most 10 times a second.
  void Update(uint64_t done);
  void Add(uint64_t n) { Update(done_ + n); }
  // The last line (with a line end). Idempotent.
  void Finish();

 private:
  double Elapsed() const;
  void Draw(bool last);

  std::string label_, unit_;
  uint64_t total_, done_ = 0;
  FILE* out_;
  bool tty_;
  double line_interval_s_;
  double start_s_, last_draw_s_ = -1e9;
  bool finished_ = false;
};

}  // namespace shoal
