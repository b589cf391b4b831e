#include "cluster/local_workers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "comm/tcp/handshake.h"
#include "comm/tcp/tcp.h"

namespace shoal::cluster {
namespace {

std::string SelfExe() {
#ifdef __APPLE__
  char buf[4096];
  uint32_t n = sizeof(buf);
  if (_NSGetExecutablePath(buf, &n) == 0) return buf;
  return "shoal";
#else
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "shoal";
  buf[n] = 0;
  return buf;
#endif
}

// Reads one line ("port\n") from fd within timeout_ms.
StatusOr<int> ReadPort(int fd, int timeout_ms) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (line.find('\n') == std::string::npos) {
    const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - std::chrono::steady_clock::now())
                             .count());
    if (left <= 0) return Unavailable("a local worker did not start in time");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char buf[32];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return Unavailable("a local worker exited before listening");
    line.append(buf, size_t(n));
    if (line.size() > 16) return Internal("a local worker announced a bad port");
  }
  const int port = std::atoi(line.c_str());
  if (port <= 0 || port > 65535) return Internal("a local worker announced a bad port");
  return port;
}

}  // namespace

StatusOr<std::string> ClusterSecret(const std::string& file) {
  std::string s;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return NotFound("cannot read the secret file " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  } else if (const char* env = std::getenv("SHOAL_SECRET")) {
    s = env;
  } else {
    return InvalidArgument(
        "no cluster secret: set SHOAL_SECRET or pass --secret-file (the same on every node)");
  }
  SHOAL_RETURN_IF_ERROR(
      comm::tcp::CheckSecret(s).With(file.empty() ? "$SHOAL_SECRET" : "the secret file " + file));
  return s;
}

std::string RandomSecret() { return comm::tcp::NewClusterSecret(); }

StatusOr<comm::LinkSecurity> LinkSecurityFlag(const std::string& name) {
  SHOAL_ASSIGN_OR_RETURN(const comm::LinkSecurity s, comm::ParseLinkSecurity(name));
  if (s == comm::LinkSecurity::kNone) {
    std::fprintf(stderr,
                 "shoal: warning: --link-security none: frames after the handshake travel "
                 "unauthenticated and in clear (for benchmarks on a trusted link only)\n");
  }
  return s;
}

StatusOr<std::unique_ptr<LocalWorkers>> LocalWorkers::Start(
    int n, const std::string& transport, int threads_each, const std::string& secret,
    const std::string& shm_name, const std::string& mem, bool busy_poll, const std::string& model,
    const std::string& link_security) {
  if (transport != "tcp" && transport != "shm") {
    return InvalidArgument("--transport must be tcp or shm, not '" + transport + "'");
  }
  auto w = std::make_unique<LocalWorkers>();
  const std::string exe = SelfExe();
  for (int r = 1; r <= n; ++r) {
    int fds[2] = {-1, -1};
    if (transport == "tcp" && ::pipe(fds) != 0)
      return IoError("pipe: " + std::string(strerror(errno)));
    std::vector<std::string> args = {exe, "worker", "--once", "-t", std::to_string(threads_each)};
    if (!mem.empty()) args.insert(args.end(), {"--mem", mem});
    if (!model.empty()) args.insert(args.end(), {"-m", model});
    if (busy_poll) args.push_back("--busy-poll");
    if (transport == "tcp") args.insert(args.end(), {"--link-security", link_security});
    if (transport == "tcp") {
      args.insert(args.end(), {"--listen", "127.0.0.1:0", "--port-fd", std::to_string(fds[1])});
    } else {
      args.insert(args.end(), {"--shm", shm_name, "--rank", std::to_string(r)});
    }
    const pid_t pid = ::fork();
    if (pid < 0) return IoError("fork: " + std::string(strerror(errno)));
    if (pid == 0) {
#ifdef __linux__
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
      if (fds[0] >= 0) ::close(fds[0]);
      ::setenv("SHOAL_SECRET", secret.c_str(), 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    w->pids_.push_back(pid);
    if (transport == "tcp") {
      ::close(fds[1]);
      auto port = ReadPort(fds[0], 30000);
      ::close(fds[0]);
      if (!port.ok()) return port.status();
      w->addresses_.push_back("127.0.0.1:" + std::to_string(*port));
    }
  }
  return w;
}

LocalWorkers::~LocalWorkers() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (pid_t pid : pids_) {
    for (;;) {
      int status;
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno != EINTR)) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace shoal::cluster
