#include "kube/serving.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

namespace ascend::kube {
namespace {

constexpr std::size_t kMaxRequestBytes = 16384;
using SteadyClock = std::chrono::steady_clock;

std::string errno_text(int err) {
  return std::system_category().message(err);
}

std::string_view status_text(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Internal Server Error";
  }
}

std::string response(int code, std::string_view content_type, const std::string& body, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(code) + " " + std::string(status_text(code)) +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (!head) out += body;
  return out;
}

}  // namespace

/// One client: reading its request, then writing its response, each before a deadline.
struct ServingServer::Connection {
  int fd = -1;
  SteadyClock::time_point opened;
  SteadyClock::time_point deadline;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool writing = false;
};

ServingServer::ServingServer(ServingOptions options, std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)), registry_(std::move(registry)) {}

ServingServer::~ServingServer() {
  stop();
}

void ServingServer::add_health_check(std::string name, HealthCheck check) {
  const std::lock_guard lock(checks_mutex_);
  std::erase_if(health_checks_, [&](const NamedCheck& c) { return c.name == name; });
  health_checks_.push_back({std::move(name), std::move(check)});
}

void ServingServer::add_ready_check(std::string name, HealthCheck check) {
  const std::lock_guard lock(checks_mutex_);
  std::erase_if(ready_checks_, [&](const NamedCheck& c) { return c.name == name; });
  ready_checks_.push_back({std::move(name), std::move(check)});
}

Status ServingServer::start() {
  if (thread_.joinable()) return {};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  const int rc = ::getaddrinfo(options_.address.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return Error{0, "Bind",
                 "serving address '" + options_.address +
                     "' is not a numeric IP address: " + ::gai_strerror(rc)};
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return Error{0, "Socket", "socket(): " + errno_text(errno)};
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::freeaddrinfo(found);
    ::close(fd);
    return Error{0, "Bind",
                 "cannot listen on " + options_.address + ":" + port + ": " + errno_text(err)};
  }
  ::freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);  // NOLINT
  if (bound.ss_family == AF_INET6) {
    bound_port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);  // NOLINT
  } else {
    bound_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);  // NOLINT
  }
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    ::close(fd);
    return Error{0, "Socket", "pipe(): " + errno_text(errno)};
  }
  listen_fd_ = fd;
  thread_ = std::thread([this] { run(); });
  return {};
}

void ServingServer::stop() {
  if (!thread_.joinable()) return;
  const char byte = 'x';
  while (::write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
  listen_fd_ = -1;
  wake_fds_[0] = wake_fds_[1] = -1;
  bound_port_ = 0;
}

void ServingServer::run() {
  std::vector<Connection> connections;
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = SteadyClock::now();
    // Drop whoever ran out of time (a silent client, or one that does not read its answer).
    std::erase_if(connections, [&](const Connection& c) {
      if (c.deadline > now) return false;
      ::close(c.fd);
      return true;
    });
    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    auto wait = std::chrono::milliseconds(-1);
    for (const auto& c : connections) {
      fds.push_back({c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now);
      if (wait.count() < 0 || left < wait) wait = left;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[0].revents & POLLIN) != 0) break;
    // Connections first (fds[2 + i] is connections[i]); accepting may reorder the list.
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      const short revents = fds[2 + i].revents;
      if (revents == 0) continue;
      bool done = (revents & (POLLERR | POLLNVAL)) != 0;
      if (!done && !c.writing) {
        char buf[4096];
        const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          done = true;  // closed before the request was complete: nobody to answer
        }
        if (!done &&
            (c.in.find("\r\n\r\n") != std::string::npos || c.in.size() >= kMaxRequestBytes)) {
          c.out = answer(c.in);
          c.writing = true;
          c.deadline = SteadyClock::now() + options_.response_timeout;
        }
      } else if (!done) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
          c.sent += static_cast<std::size_t>(n);
          done = c.sent == c.out.size();
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          done = true;
        }
      }
      if (done) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(connections, [](const Connection& c) { return c.fd < 0; });
    if ((fds[1].revents & POLLIN) != 0) accept_new(connections);
  }
  for (const auto& c : connections)
    ::close(c.fd);
}

void ServingServer::accept_new(std::vector<Connection>& connections) {
  for (;;) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) return;  // EAGAIN: nobody else is waiting
    if (connections.size() >= std::max<std::size_t>(options_.max_connections, 1)) {
      // Full: the oldest client still silent gives way (one that is being answered finishes).
      auto oldest = connections.end();
      for (auto it = connections.begin(); it != connections.end(); ++it) {
        if (!it->writing && (oldest == connections.end() || it->opened < oldest->opened)) {
          oldest = it;
        }
      }
      if (oldest == connections.end()) {
        ::close(client);  // every slot is sending an answer; this one may retry
        continue;
      }
      ::close(oldest->fd);
      connections.erase(oldest);
    }
    const auto now = SteadyClock::now();
    connections.push_back({client, now, now + options_.request_timeout, {}, {}, 0, false});
  }
}

std::string ServingServer::render_checks(const std::vector<NamedCheck>& checks, bool verbose,
                                         int& code) {
  std::string failed;
  std::string all;
  for (const auto& c : checks) {
    std::optional<std::string> problem;
    try {
      problem = c.check();
    } catch (const std::exception& e) {
      problem = std::string("check threw: ") + e.what();
    } catch (...) {
      problem = "check threw an unknown exception";
    }
    if (problem) {
      const std::string line = "[-]" + c.name + " failed: " + *problem + "\n";
      failed += line;
      all += line;
    } else {
      all += "[+]" + c.name + " ok\n";
    }
  }
  code = failed.empty() ? 200 : 500;
  if (verbose) return all + (failed.empty() ? "ok\n" : "check failed\n");
  return failed.empty() ? "ok" : failed + "check failed\n";
}

std::string ServingServer::answer(const std::string& request) {
  const std::size_t line_end = request.find("\r\n");
  const std::string line = request.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (line_end == std::string::npos || sp1 == std::string::npos || sp2 == std::string::npos) {
    return response(400, "text/plain; charset=utf-8", "malformed request\n", false);
  }
  const std::string method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    return response(405, "text/plain; charset=utf-8", "only GET and HEAD\n", false);
  }
  const std::size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? std::string() : target.substr(q + 1);
  const bool verbose = query == "verbose" || query.starts_with("verbose=") ||
                       query.find("&verbose") != std::string::npos;

  if (path == "/healthz" || path == "/readyz") {
    std::vector<NamedCheck> checks;
    {
      const std::lock_guard lock(checks_mutex_);
      checks = path == "/healthz" ? health_checks_ : ready_checks_;
    }
    int code = 200;
    const std::string body = render_checks(checks, verbose, code);
    return response(code, "text/plain; charset=utf-8", body, head);
  }
  if (path == "/metrics") {
    std::string body;
    if (registry_) body = prometheus::TextSerializer().Serialize(registry_->Collect());
    return response(200, "text/plain; version=0.0.4; charset=utf-8", body, head);
  }
  return response(404, "text/plain; charset=utf-8", "not found\n", head);
}

}  // namespace ascend::kube
