#include "cli_common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace shoal::cli {

StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    const int err = errno;
    if (err == ENOENT) return NotFound("cannot open '" + path + "': no such file");
    return IoError("cannot open '" + path + "': " + std::strerror(err));
  }
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) out.append(buf, n);
  if (std::ferror(f.get())) return IoError("cannot read '" + path + "'");
  return out;
}

StatusOr<std::string> PromptText(const std::string& prompt, const std::string& file) {
  if (!prompt.empty() && !file.empty()) return InvalidArgument("give either -p or -f, not both");
  if (!file.empty()) return ReadFileBytes(file);
  return prompt;
}

Status WriteFileBytes(const std::string& path, const void* data, size_t bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return IoError("cannot create '" + path + "': " + std::strerror(errno));
  if (bytes > 0 && std::fwrite(data, 1, bytes, f.get()) != bytes) {
    return IoError("cannot write '" + path + "'");
  }
  if (std::fclose(f.release()) != 0) return IoError("cannot write '" + path + "'");
  return Status::Ok();
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

namespace {
std::vector<std::string>& Args() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void SetProgramArgs(int argc, char** argv) { Args().assign(argv, argv + argc); }
const std::vector<std::string>& ProgramArgs() { return Args(); }

std::string BuildCommit() {
  // A test hook: the version a binary reports (tests/cluster's rolling upgrade makes a "new"
  // binary this way).
  if (const char* v = std::getenv("SHOAL_TEST_VERSION"); v != nullptr && *v != '\0') return v;
#ifdef SHOAL_SOURCE_DIR
  const std::string cmd =
      std::string("git -C '") + SHOAL_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {0};
    std::string out;
    if (std::fgets(buf, sizeof(buf), p)) out = buf;
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (!out.empty()) return out;
  }
#endif
#ifdef SHOAL_GIT_DESCRIBE
  return SHOAL_GIT_DESCRIBE;
#else
  return "unknown";
#endif
}

}  // namespace shoal::cli
