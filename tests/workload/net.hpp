// Small POSIX socket helpers shared by the stand-in's HTTP server and rendezvous.
#pragma once

#include <string>

namespace ascend::standin {

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// A TCP listener on every address (IPv6 and IPv4 when the kernel has IPv6, else IPv4 only);
// port 0 picks a free port. Returns an invalid Fd and sets *error on failure.
Fd listen_tcp(int port, std::string* error);

// The port a listening socket is bound to.
int bound_port(int fd);

// Waits up to timeout_ms for fd to become readable (or writable); false on timeout.
bool wait_readable(int fd, int timeout_ms);
bool wait_writable(int fd, int timeout_ms);

// Writes all of data (no SIGPIPE); false when the peer went away.
bool send_all(int fd, const std::string& data);

// strerror without its thread-safety problem.
std::string errno_text(int err);

}  // namespace ascend::standin
