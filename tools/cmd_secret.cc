// shoal secret [-o FILE] [--force]
// A new cluster secret: 32 random bytes (libsodium's generator) as 64 hex digits, on stdout or in
// FILE (created with mode 0600; an existing FILE is replaced only with --force).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli_common.h"
#include "comm/tcp/tcp.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string out;
  bool force = false;
};

Status WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(std::string("write: ") + std::strerror(errno));
    done += size_t(n);
  }
  return Status::Ok();
}

// Writes to a new file beside `path` (0600, O_EXCL), then renames it into place: a reader never
// sees half a secret, and the mode is 0600 from the start.
Status WriteSecretFile(const std::string& path, const std::string& text, bool force) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !force) {
    return InvalidArgument(path +
                           " exists; pass --force to replace it (every node then needs the new "
                           "secret)");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + tmp + ": " + std::strerror(errno));
  Status s = WriteAll(fd, text);
  if (s.ok() && ::fsync(fd) != 0) s = IoError(std::string("fsync: ") + std::strerror(errno));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s.With(path);
}

Status Run(const Opts& o) {
  const std::string secret = comm::tcp::NewClusterSecret();
  if (secret.size() != 64) return Internal("the random generator failed");
  if (o.out.empty()) {
    std::printf("%s\n", secret.c_str());
    return Status::Ok();
  }
  SHOAL_RETURN_IF_ERROR(WriteSecretFile(o.out, secret + "\n", o.force));
  std::fprintf(stderr,
               "shoal secret: wrote a new cluster secret to %s (mode 0600); copy it to every node "
               "and use --secret-file %s (or SHOAL_SECRET=$(cat %s))\n",
               o.out.c_str(), o.out.c_str(), o.out.c_str());
  return Status::Ok();
}

}  // namespace

Action RegisterSecret(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("secret", "Make a new random cluster secret (256 bits, 64 hex digits)");
  sub->add_option("-o,--output", o->out, "write it to this file (mode 0600) instead of stdout");
  sub->add_flag("--force", o->force, "replace an existing file");
  return [o] { return Run(*o); };
}

}  // namespace shoal::cli
