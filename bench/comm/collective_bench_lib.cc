#include "bench/comm/collective_bench_lib.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "comm/shm/shm.h"
#include "comm/tcp/tcp.h"

namespace shoal::comm::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::string transport;
  int ranks;
  size_t count;
  bool busy;
  Algorithm algo;
  bool pingpong;     // 2 ranks, Send/Recv round trips of count * 4 bytes
  std::string link;  // tcp: seal, auth or none
};

std::string AlgoName(Algorithm a) {
  switch (a) {
    case Algorithm::kAuto:
      return "auto";
    case Algorithm::kDirect:
      return "direct";
    case Algorithm::kRing:
      return "ring";
  }
  return "?";
}

// One timed call per iteration on this rank; iterations are agreed through rank 0's broadcast.
Status RunRank(Group& g, const Case& c, const Options& o, std::vector<double>* us) {
  std::vector<float> v(c.count, 1.0f / (g.rank() + 1));
  const size_t bytes = c.count * sizeof(float);
  auto once = [&]() -> Status {
    if (!c.pingpong) return g.AllReduceSum(v.data(), c.count, ElemType::kF32, c.algo);
    if (g.rank() == 0) {
      SHOAL_RETURN_IF_ERROR(g.Send(1, v.data(), bytes));
      return g.Recv(1, v.data(), bytes);
    }
    SHOAL_RETURN_IF_ERROR(g.Recv(0, v.data(), bytes));
    return g.Send(0, v.data(), bytes);
  };
  SHOAL_RETURN_IF_ERROR(g.Barrier());
  std::vector<double> warm_s(std::max(o.warmup_iters, 1));
  for (double& s : warm_s) {
    const auto t0 = Clock::now();
    SHOAL_RETURN_IF_ERROR(once());
    s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::nth_element(warm_s.begin(), warm_s.begin() + warm_s.size() / 2, warm_s.end());
  const double per_call_s = std::max(warm_s[warm_s.size() / 2], 1e-7);  // median warm-up call
  int32_t iters = static_cast<int32_t>(
      std::clamp(o.seconds_per_case / per_call_s, 20.0, static_cast<double>(o.max_iters)));
  SHOAL_RETURN_IF_ERROR(g.Broadcast(&iters, sizeof iters, 0));
  SHOAL_RETURN_IF_ERROR(g.Barrier());
  us->resize(iters);
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    SHOAL_RETURN_IF_ERROR(once());
    (*us)[i] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  return g.Barrier();
}

// Writes all of buf to fd (a pipe to the parent).
void WriteAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

bool ReadAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// The body of a forked rank: set up the group, run, and (rank 0) report through `out_fd`:
// u32 status length, status text, u32 n, n doubles.
int ChildMain(const Case& c, const Options& o, int rank, const std::string& shm_name,
              std::vector<tcp::Listener>& listeners, const std::vector<std::string>& addresses,
              int out_fd) {
  StatusOr<std::unique_ptr<Group>> g = Internal("no transport");
  if (c.transport == "shm") {
    shm::Options so;
    so.io_timeout_ms = o.io_timeout_ms;
    so.busy_poll = c.busy;
    g = rank == 0 ? shm::Create(shm_name, c.ranks, so) : shm::Attach(shm_name, rank, so);
  } else {
    tcp::Options to;
    to.secret = "shoal comm bench: a fixed secret of 32+ bytes";
    auto link = ParseLinkSecurity(c.link);
    if (!link.ok()) return 1;
    to.link_security = *link;
    to.io_timeout_ms = o.io_timeout_ms;
    to.busy_poll = c.busy;
    g = rank == 0 ? tcp::Launch(addresses, to) : tcp::Join(listeners[rank - 1], to, 20000);
  }
  std::vector<double> us;
  Status st = g.ok() ? RunRank(**g, c, o, &us) : g.status();
  if (rank == 0) {
    const std::string text = st.ok() ? "" : st.ToString();
    const uint32_t len = static_cast<uint32_t>(text.size()), n = static_cast<uint32_t>(us.size());
    WriteAll(out_fd, &len, 4);
    WriteAll(out_fd, text.data(), len);
    WriteAll(out_fd, &n, 4);
    WriteAll(out_fd, us.data(), n * sizeof(double));
  }
  return st.ok() ? 0 : 1;
}

nlohmann::json Percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return {{"median", std::round(at(0.5) * 10) / 10}, {"p90", std::round(at(0.9) * 10) / 10}};
}

// Forks c.ranks processes; returns rank 0's timings or an error text.
StatusOr<std::vector<double>> RunCase(const Case& c, const Options& o) {
  std::vector<tcp::Listener> listeners;
  std::vector<std::string> addresses;
  if (c.transport == "tcp") {
    for (int r = 1; r < c.ranks; ++r) {
      SHOAL_ASSIGN_OR_RETURN(tcp::Listener l, tcp::Listener::Bind("127.0.0.1:0"));
      addresses.push_back(l.address());
      listeners.push_back(std::move(l));
    }
  } else if (c.transport != "shm") {
    return InvalidArgument("unknown transport '" + c.transport + "' (shm, tcp)");
  }
  const std::string shm_name = shm::UniqueName();
  int fds[2];
  if (pipe(fds) != 0) return IoError("pipe failed");
  std::vector<pid_t> pids;
  for (int r = 0; r < c.ranks; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      _exit(ChildMain(c, o, r, shm_name, listeners, addresses, fds[1]));
    }
    if (pid < 0) break;
    pids.push_back(pid);
  }
  close(fds[1]);
  listeners.clear();
  uint32_t len = 0, n = 0;
  std::string text;
  std::vector<double> us;
  bool ok = ReadAll(fds[0], &len, 4) && len < 65536;
  if (ok) {
    text.resize(len);
    ok = ReadAll(fds[0], text.data(), len) && ReadAll(fds[0], &n, 4) && n <= 1000000;
  }
  if (ok) {
    us.resize(n);
    ok = ReadAll(fds[0], us.data(), n * sizeof(double));
  }
  close(fds[0]);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
  if (static_cast<int>(pids.size()) != c.ranks) return IoError("fork failed");
  if (!ok) return Internal("rank 0 reported nothing");
  if (!text.empty()) return Internal(text);
  if (us.empty()) return Internal("no iterations");
  return us;
}

}  // namespace

nlohmann::json RunCollectiveBench(const Options& o) {
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nlohmann::json out = {{"bench", "comm_collectives"}, {"cpus", cpus}, {"unit", "us"}};
  out["results"] = nlohmann::json::array();
  out["pingpong"] = nlohmann::json::array();
  out["errors"] = nlohmann::json::array();
  std::vector<bool> modes;
  if (o.blocking) modes.push_back(false);
  if (o.busy_poll) modes.push_back(true);
  for (const std::string& t : o.transports) {
    for (const std::string& link : t == "tcp" ? o.link_security : std::vector<std::string>{""}) {
      for (bool busy : modes) {
        if (busy && cpus < 2) continue;
        for (size_t count : o.counts) {
          Case pp{t, 2, count, busy, Algorithm::kDirect, true, link};
          auto rtt = RunCase(pp, o);
          nlohmann::json rtt_json;
          if (rtt.ok()) {
            rtt_json = Percentiles(*rtt);
            out["pingpong"].push_back({{"transport", t},
                                       {"link_security", link},
                                       {"count", count},
                                       {"bytes", count * 4},
                                       {"busy_poll", busy},
                                       {"iters", rtt->size()},
                                       {"rtt_us", rtt_json}});
          } else {
            out["errors"].push_back(t + " ping-pong: " + rtt.status().ToString());
          }
          for (int ranks : o.ranks) {
            if (busy && ranks > cpus) continue;  // oversubscribed: blocking mode only
            for (Algorithm algo : o.algorithms) {
              Case c{t, ranks, count, busy, algo, false, link};
              auto us = RunCase(c, o);
              if (!us.ok()) {
                out["errors"].push_back(t + " " + std::to_string(ranks) + " ranks " +
                                        std::to_string(count) + ": " + us.status().ToString());
                continue;
              }
              nlohmann::json r = {{"transport", t},
                                  {"link_security", link},
                                  {"ranks", ranks},
                                  {"count", count},
                                  {"bytes", count * 4},
                                  {"busy_poll", busy},
                                  {"algorithm", AlgoName(algo)},
                                  {"iters", us->size()},
                                  {"allreduce_us", Percentiles(*us)}};
              if (rtt.ok()) {
                r["pingpong_rtt_us"] = rtt_json;
                const double ratio = r["allreduce_us"]["median"].get<double>() /
                                     std::max(rtt_json["median"].get<double>(), 0.1);
                r["ratio"] = std::round(ratio * 100) / 100;
              }
              out["results"].push_back(r);
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace shoal::comm::bench
