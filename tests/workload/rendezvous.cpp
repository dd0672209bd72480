#include "tests/workload/rendezvous.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <regex>
#include <thread>

#include "tests/workload/net.hpp"

namespace ascend::standin {

namespace {

using Clock = std::chrono::steady_clock;

// Concatenates without a temporary per `+`.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out += ... += parts);
  return out;
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string(d.count() / 1000) + " s";
}

// Pops one "\n"-terminated line from buf, if there is one.
bool pop_line(std::string& buf, std::string& line) {
  const auto nl = buf.find('\n');
  if (nl == std::string::npos) return false;
  line = buf.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  buf.erase(0, nl + 1);
  return true;
}

struct Peer {
  Fd fd;
  std::string buf;
  int rank = -1;
};

RendezvousResult master(const RendezvousOptions& o, const std::atomic<bool>& stop,
                        std::ostream& log) {
  RendezvousResult r;
  Fd owned;
  int lfd = o.listen_fd;
  if (lfd < 0) {
    std::string error;
    owned = listen_tcp(o.port, &error);
    if (!owned.valid()) {
      r.message = "rank 0: cannot listen on MASTER_PORT " + std::to_string(o.port) + ": " + error;
      return r;
    }
    lfd = owned.get();
  }
  log << "rendezvous: rank 0 listening on port " << bound_port(lfd) << " for " << o.nnodes - 1
      << " other rank(s), " << seconds_text(o.timeout) << " timeout" << std::endl;
  const auto deadline = Clock::now() + o.timeout;
  std::vector<Peer> peers;
  auto ready = [&] {
    int n = 0;
    for (const Peer& p : peers)
      n += p.rank > 0 ? 1 : 0;
    return n == o.nnodes - 1;
  };
  while (!ready()) {
    if (stop.load()) {
      r.message = "rank 0: stopped while waiting for the other ranks";
      return r;
    }
    if (Clock::now() >= deadline) {
      std::string missing;
      for (int k = 1; k < o.nnodes; ++k) {
        const bool here =
            std::any_of(peers.begin(), peers.end(), [k](const Peer& p) { return p.rank == k; });
        if (!here) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
      }
      r.message = "rank 0: timed out after " + seconds_text(o.timeout) + " waiting for rank(s) " +
                  missing + " to connect to port " + std::to_string(bound_port(lfd));
      return r;
    }
    std::vector<pollfd> fds;
    fds.push_back({lfd, POLLIN, 0});
    for (const Peer& p : peers)
      fds.push_back({p.fd.get(), POLLIN, 0});
    const int n = ::poll(fds.data(), fds.size(), std::min(200, ms_left(deadline)));
    if (n <= 0) continue;
    // Read from the peers first (indices stay valid), then accept.
    for (size_t i = peers.size(); i-- > 0;) {
      if ((fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Peer& p = peers[i];
      char chunk[512];
      const ssize_t got = ::recv(p.fd.get(), chunk, sizeof(chunk), 0);
      if (got <= 0) {  // gone before the start: forget it (a restarted rank reconnects)
        peers.erase(peers.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      p.buf.append(chunk, static_cast<size_t>(got));
      std::string line;
      if (p.rank == -1 && pop_line(p.buf, line)) {
        const int k = parse_hello(line);
        if (k < 1 || k >= o.nnodes) {
          log << "rendezvous: ignoring '" << line << "' (want rank 1.." << o.nnodes - 1 << ")"
              << std::endl;
          peers.erase(peers.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
        // A rank that connects again replaces its older connection.
        for (size_t j = 0; j < peers.size(); ++j) {
          if (j != i && peers[j].rank == k) peers[j].rank = -2;
        }
        p.rank = k;
        log << "rendezvous: rank 0 got '" << line << "'" << std::endl;
        r.lines.push_back(line);
      }
    }
    peers.erase(
        std::remove_if(peers.begin(), peers.end(), [](const Peer& p) { return p.rank == -2; }),
        peers.end());
    if ((fds[0].revents & POLLIN) != 0) {
      Fd c(::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
      if (c.valid()) peers.push_back(Peer{std::move(c), "", -1});
    }
  }
  const std::string reply = "rank 0 hello: " + std::to_string(o.nnodes) + " ranks ready\n";
  for (const Peer& p : peers)
    send_all(p.fd.get(), reply);
  r.ok = true;
  r.message = "rank 0: all " + std::to_string(o.nnodes) + " ranks connected";
  return r;
}

// Connects to one address within timeout_ms; an invalid Fd and *error on failure.
Fd connect_to(const addrinfo* ai, int timeout_ms, std::string* error) {
  Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) {
    *error = errno_text(errno);
    return Fd();
  }
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      *error = errno_text(errno);
      return Fd();
    }
    if (!wait_writable(fd.get(), timeout_ms)) {
      *error = "connect timed out";
      return Fd();
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      *error = errno_text(err);
      return Fd();
    }
  }
  return fd;
}

RendezvousResult worker(const RendezvousOptions& o, const std::atomic<bool>& stop,
                        std::ostream& log) {
  RendezvousResult r;
  const std::string where = o.master_addr + ":" + std::to_string(o.port);
  const std::string me = "rank " + std::to_string(o.rank);
  log << "rendezvous: " << me << " connecting to rank 0 at " << where << ", "
      << seconds_text(o.timeout) << " timeout" << std::endl;
  const auto deadline = Clock::now() + o.timeout;
  std::string last_error = "no attempt";
  auto last_report = Clock::now() - std::chrono::hours(1);
  auto wait_a_second = [&](const std::string& what) {
    if (what != last_error || Clock::now() - last_report > std::chrono::seconds(10)) {
      log << "rendezvous: " << me << " waiting: " << what << std::endl;
      last_report = Clock::now();
    }
    last_error = what;
    const auto until = std::min(deadline, Clock::now() + std::chrono::seconds(1));
    while (!stop.load() && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  while (!stop.load() && Clock::now() < deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(o.port);
    const int rc = ::getaddrinfo(o.master_addr.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) {
      const std::string why = ::gai_strerror(rc);
      wait_a_second(cat("cannot resolve MASTER_ADDR ", o.master_addr, " (", why, ")"));
      continue;
    }
    Fd fd;
    std::string error;
    for (const addrinfo* ai = found; ai != nullptr && !fd.valid(); ai = ai->ai_next)
      fd = connect_to(ai, std::min(5000, ms_left(deadline)), &error);
    ::freeaddrinfo(found);
    if (!fd.valid()) {
      wait_a_second(cat("cannot connect to ", where, " (", error, ")"));
      continue;
    }
    if (!send_all(fd.get(), me + " hello\n")) {
      wait_a_second(cat("connection to ", where, " closed before hello"));
      continue;
    }
    std::string buf;
    std::string line;
    bool closed = false;
    while (!pop_line(buf, line) && !closed && !stop.load() && Clock::now() < deadline) {
      if (!wait_readable(fd.get(), std::min(200, ms_left(deadline)))) continue;
      char chunk[512];
      const ssize_t got = ::recv(fd.get(), chunk, sizeof(chunk), 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) closed = true;
      if (got > 0) buf.append(chunk, static_cast<size_t>(got));
    }
    if (!line.empty()) {
      log << "rendezvous: " << me << " got '" << line << "'" << std::endl;
      r.lines.push_back(line);
      r.ok = true;
      r.message = cat(me, ": connected to rank 0 at ", where);
      return r;
    }
    if (closed) {
      wait_a_second(cat("rank 0 at ", where, " closed the connection before answering"));
      continue;
    }
  }
  r.message = stop.load() ? me + ": stopped while connecting to " + where
                          : me + ": timed out after " + seconds_text(o.timeout) +
                                " connecting to rank 0 at " + where + ": " + last_error;
  return r;
}

}  // namespace

int parse_hello(const std::string& line) {
  static const std::regex kHello(R"(rank ([0-9]{1,6}) hello)");
  std::smatch m;
  if (!std::regex_match(line, m, kHello)) return -1;
  return std::stoi(m[1].str());
}

RendezvousResult rendezvous(const RendezvousOptions& options, const std::atomic<bool>& stop,
                            std::ostream& log) {
  if (options.nnodes <= 1) return RendezvousResult{true, "single node: no rendezvous", {}};
  if (options.rank < 0 || options.rank >= options.nnodes) {
    return RendezvousResult{false,
                            "NODE_RANK " + std::to_string(options.rank) + " is outside 0.." +
                                std::to_string(options.nnodes - 1),
                            {}};
  }
  if (options.rank == 0) return master(options, stop, log);
  if (options.master_addr.empty()) return RendezvousResult{false, "MASTER_ADDR is not set", {}};
  return worker(options, stop, log);
}

}  // namespace ascend::standin
