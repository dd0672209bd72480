// What every ascend-factory program does around its own work, written once: the malloc prelude,
// the command line (CLI11) with its --help/--version/error exits, logging from flags, and the
// SIGTERM/SIGINT that ends it. Plain POSIX and CLI11: no cpprestsdk, so any binary links it.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "kube/logging.hpp"

namespace CLI {
class App;
}

namespace ascend::kube {

/// Caps glibc's malloc arenas at `arenas` unless MALLOC_ARENA_MAX is set in the environment
/// (which then decides). glibc gives each thread that allocates an arena of its own, up to 8
/// per core, and memory freed in one is not reused by another: with ~30 threads that was
/// ~5 MiB of the operator's peak RSS on the bench (bench/README.md), and two arenas are plenty
/// for a process that mostly waits.
/// Assumptions: called first in main(), before any thread starts (getenv and mallopt race with
/// other threads).
void limit_malloc_arenas(int arenas = 2);

/// How a command line ends a program before it starts its work.
struct CommandLineExit {
  /// 0 for --help and --version; 2 for a flag CLI11 rejects.
  int code = 0;
  /// The help or version text, or `<program>: <error, on one line> (see --help)`.
  std::string message;
};

/// Parses `argv` (argv[0] is the program) into the options registered on `app`.
/// Guarantees: `--flag=` means the empty value it says (CLI11 2.1 would read it as `--flag`
/// without a value and take the next argument instead, or fail), so `--startup-taint=` in a
/// manifest turns that off; an error message is one line and starts with `app`'s name.
/// Returns std::nullopt when the program should run with what was parsed.
std::optional<CommandLineExit> parse_command_line(CLI::App& app, int argc, const char* const* argv);

/// Prints `message` (on stdout for code 0, else on stderr) and returns `code`, for
/// `return exit_with(...)` in main().
int exit_with(int code, const std::string& message);

/// Installs logging as configured by flags (setup_logging()). Errors: prints
/// `<program>: <why>` on stderr and returns false; the caller exits with code 2.
bool start_logging(const std::string& program, const LogOptions& options);

/// What ends a long-running program: a signal, or a request from one of its own threads.
class StopSource {
 public:
  virtual ~StopSource() = default;
  /// Blocks until a stop is requested and returns what requested it ("SIGTERM", "SIGINT", or
  /// the reason given to request()).
  virtual std::string wait() = 0;
  /// True once a stop was requested and not yet taken by wait(). Never blocks.
  [[nodiscard]] virtual bool requested() const = 0;
  /// Requests a stop; callable from any thread.
  virtual void request(const std::string& why) = 0;
};

/// SIGTERM and SIGINT, taken with sigwait() (no handler runs on an arbitrary thread).
/// Guarantees: from construction on, the two signals are blocked in the constructing thread and
/// in every thread it starts later, so they stay pending until wait() takes one.
/// Assumptions: constructed in main() before any thread starts (a thread started earlier keeps
/// its mask, and the kernel may deliver the signal to it: the default action ends the process).
class StopSignals final : public StopSource {
 public:
  StopSignals();
  std::string wait() override;
  [[nodiscard]] bool requested() const override;
  /// Sends SIGTERM to this process: wait() returns "SIGTERM" (the reason is only logged).
  void request(const std::string& why) override;

 private:
  sigset_t signals_{};
};

/// A StopSource driven by request() alone: tests, and programs that embed a Manager.
class ManualStop final : public StopSource {
 public:
  std::string wait() override;
  [[nodiscard]] bool requested() const override;
  void request(const std::string& why) override;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::string> why_;  // guarded by mutex_
  bool asked_ = false;              // guarded by mutex_
};

}  // namespace ascend::kube
