#pragma once

// A background thread that sleeps in poll() on a file descriptor of its own (an inotify
// watch) with a timeout, and that stop() wakes at once through an eventfd instead of waiting
// for the timeout. The health monitor and the registrar each run their loop on one.

#include <chrono>
#include <functional>
#include <stop_token>
#include <thread>

namespace ascend::plugin {

/// One stoppable loop thread. start() and stop() are for the owner's thread; wait() is for
/// the loop's own body.
class WakeLoop final {
 public:
  /// The loop: runs until the token says stop, sleeping in wait() between rounds.
  using Body = std::function<void(const std::stop_token& stop)>;

  WakeLoop() = default;
  ~WakeLoop();
  WakeLoop(const WakeLoop&) = delete;
  WakeLoop& operator=(const WakeLoop&) = delete;

  /// Runs `body` on a new thread. Does nothing while a thread runs.
  void start(Body body);
  /// Requests stop, wakes a wait() in progress and joins the thread. Idempotent.
  void stop();
  /// True between start() and stop().
  [[nodiscard]] bool running() const { return thread_.joinable(); }

  /// From the body: sleeps until `fd` is readable, `timeout` passes (negative counts as 0) or
  /// stop() is called. A negative fd is not watched. Returns true when `fd` is readable.
  bool wait(int fd, std::chrono::milliseconds timeout) const;

 private:
  int wake_fd_ = -1;  // eventfd written by stop(); made by start(), closed after the join
  std::jthread thread_;
};

}  // namespace ascend::plugin
