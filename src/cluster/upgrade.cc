#include "cluster/upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "cluster/job.h"
#include "comm/tcp/tcp.h"

#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

namespace shoal::cluster {
namespace {

constexpr size_t kPieceBytes = size_t{16} << 20;
constexpr size_t kReplyBytes = 256;  // u32 status code, then the message (NUL-terminated)

void PutReply(const Status& st, const std::string& text, uint8_t* b) {
  std::memset(b, 0, kReplyBytes);
  const uint32_t code = uint32_t(st.code());
  std::memcpy(b, &code, 4);
  const std::string m = (st.ok() ? text : st.message()).substr(0, kReplyBytes - 5);
  std::memcpy(b + 4, m.data(), m.size());
}

Status GetReply(const uint8_t* b, std::string* text) {
  uint32_t code;
  std::memcpy(&code, b, 4);
  const std::string m(reinterpret_cast<const char*>(b + 4),
                      strnlen(reinterpret_cast<const char*>(b + 4), kReplyBytes - 5));
  if (code == 0) {
    *text = m;
    return Status::Ok();
  }
  if (code > uint32_t(StatusCode::kInternal)) code = uint32_t(StatusCode::kInternal);
  return Status(StatusCode(code), m);
}

// Runs `path --version` (at most 10 s); its first line when it exits 0 printing "shoal ...".
StatusOr<std::string> VersionOf(const std::string& path) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return IoError("pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = fork();
  if (pid < 0) return IoError("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    dup2(pipefd[1], 1);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close(pipefd[0]);
    execl(path.c_str(), path.c_str(), "--version", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  std::string out;
  int st = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    char buf[256];
    const ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n > 0 && out.size() < 4096) out.append(buf, size_t(n));
    const pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      close(pipefd[0]);
      return Unavailable("the new binary did not answer --version within 10 s");
    }
    if (n <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (;;) {  // what is left in the pipe
    char buf[256];
    const ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n <= 0 || out.size() >= 4096) break;
    out.append(buf, size_t(n));
  }
  close(pipefd[0]);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return InvalidArgument("the new binary does not run here (`--version` failed)");
  }
  out = out.substr(0, out.find('\n'));
  if (out.rfind("shoal ", 0) != 0) {
    return InvalidArgument("the new binary is not shoal (`--version` printed '" + out + "')");
  }
  return out;
}

}  // namespace

Status SendUpgrade(comm::Group& g, const std::string& binary_path, std::string* new_version) {
  if (g.size() != 2 || g.rank() != 0) return InvalidArgument("upgrade: one node at a time");
  std::ifstream in(binary_path, std::ios::binary);
  if (!in) return NotFound("cannot read " + binary_path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (bytes.empty() || bytes.size() > kMaxBinaryBytes) {
    return InvalidArgument(binary_path + " is empty or larger than 1 GiB");
  }
  SHOAL_RETURN_IF_ERROR(
      SendUpgradeJob(g, bytes.size(), gguf::HashBytes(bytes.data(), bytes.size())));
  for (size_t at = 0; at < bytes.size(); at += kPieceBytes) {
    SHOAL_RETURN_IF_ERROR(g.Send(1, bytes.data() + at, std::min(kPieceBytes, bytes.size() - at)));
  }
  uint8_t reply[kReplyBytes];
  SHOAL_RETURN_IF_ERROR(g.Recv(1, reply, sizeof reply));
  return GetReply(reply, new_version).With(g.PeerName(1));
}

Status ReceiveUpgrade(comm::Group& g, uint64_t bytes, const gguf::Digest& digest,
                      const std::string& self_exe, std::string* staged) {
  // The bytes come whatever this node decides, so that rank 0 hears the answer.
  std::vector<uint8_t> data;
  Status st = Status::Ok();
  if (bytes > kMaxBinaryBytes) {
    return Corrupt("rank 0 announced a binary of " + std::to_string(bytes) + " bytes");
  }
  data.resize(size_t(bytes));
  for (size_t at = 0; at < data.size(); at += kPieceBytes) {
    SHOAL_RETURN_IF_ERROR(g.Recv(0, data.data() + at, std::min(kPieceBytes, data.size() - at)));
  }
  const std::string link = comm::tcp::LinkDescription(g);
  std::string version;
  std::string path;
  if (self_exe.empty()) {
    st = InvalidArgument("this node does not take upgrades (its executable is unknown)");
  } else if (link.empty() || link.rfind("none", 0) == 0) {
    st = InvalidArgument("an upgrade needs an authenticated link (--link-security seal or auth)");
  } else if (!(gguf::HashBytes(data.data(), data.size()) == digest)) {
    st = Corrupt("the binary's digest is not the one announced");
  } else {
    path = self_exe + ".upgrade-" + std::to_string(getpid());
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0) {
      st = IoError("cannot write " + path + ": " + std::strerror(errno));
    } else {
      size_t done = 0;
      while (done < data.size()) {
        const ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n <= 0) break;
        done += size_t(n);
      }
      const bool ok = done == data.size() && fsync(fd) == 0;
      close(fd);
      if (!ok) st = IoError("cannot write " + path);
    }
    if (st.ok()) {
      auto v = VersionOf(path);
      if (v.ok()) {
        version = *v;
      } else {
        st = v.status();
      }
    }
    if (!st.ok()) unlink(path.c_str());
  }
  uint8_t reply[kReplyBytes];
  PutReply(st, version, reply);
  SHOAL_RETURN_IF_ERROR(g.Send(0, reply, sizeof reply));
  if (!st.ok()) {
    std::fprintf(stderr, "shoal worker: upgrade refused: %s\n", st.ToString().c_str());
    return Status::Ok();  // rank 0 knows; this node goes on with its binary
  }
  std::fprintf(stderr, "shoal worker: upgrade to %s staged\n", version.c_str());
  *staged = path;
  return Status::Ok();
}

StatusOr<std::string> SelfExecutable() {
  char buf[PATH_MAX + 1] = {0};
#ifdef __APPLE__
  uint32_t size = sizeof buf;
  if (_NSGetExecutablePath(buf, &size) != 0) return NotFound("executable path too long");
  char real[PATH_MAX + 1] = {0};
  if (realpath(buf, real) == nullptr) return NotFound("cannot resolve this executable");
  return std::string(real);
#else
  const ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX);
  if (n <= 0) return NotFound("cannot read /proc/self/exe");
  return std::string(buf, size_t(n));
#endif
}

Status ExecUpgrade(const std::string& staged, const std::string& self_exe,
                   const std::vector<std::string>& argv) {
  if (argv.empty()) return InvalidArgument("no arguments to restart with");
  if (rename(staged.c_str(), self_exe.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    unlink(staged.c_str());
    return IoError("cannot replace " + self_exe + ": " + why);
  }
  std::fflush(nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(self_exe.c_str(), args.data());
  return IoError("cannot execute " + self_exe + ": " + std::strerror(errno));
}

}  // namespace shoal::cluster
