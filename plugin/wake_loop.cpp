#include "plugin/wake_loop.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace ascend::plugin {

WakeLoop::~WakeLoop() {
  stop();
}

void WakeLoop::start(Body body) {
  if (thread_.joinable()) return;
  // Without an eventfd (fd limit reached) stop() still works: the loop sees the stop request
  // when its current wait times out.
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::jthread([body = std::move(body)](const std::stop_token& stop) { body(stop); });
}

void WakeLoop::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof one) < 0) {
    // The loop also wakes when its current wait times out; nothing else to do.
  }
  thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

bool WakeLoop::wait(int fd, std::chrono::milliseconds timeout) const {
  // poll() skips entries with a negative fd, so neither a missing eventfd nor a missing
  // watch needs a case of its own.
  std::array<pollfd, 2> fds{pollfd{wake_fd_, POLLIN, 0}, pollfd{fd, POLLIN, 0}};
  const auto millis = std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT32_MAX);
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(millis));
  return ready > 0 && fd >= 0 && (fds[1].revents & POLLIN) != 0;
}

}  // namespace ascend::plugin
