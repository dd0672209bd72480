#include "kube/program.hpp"

#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <vector>

// GCC 12 reports a null dereference inside CLI11's own string splitting once it is inlined
// here (a false positive in a header we do not own); the rest of this file stays strict.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop

namespace ascend::kube {

void limit_malloc_arenas(int arenas) {
  // Documented to run before any thread starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, arenas);
}

std::optional<CommandLineExit> parse_command_line(CLI::App& app, int argc,
                                                  const char* const* argv) {
  std::vector<std::string> args;
  args.reserve(static_cast<std::size_t>(std::max(argc, 0)) + 1);
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    // `--flag=` (and only a bare trailing '='): split it into `--flag ""`.
    if (i > 0 && arg.size() > 3 && arg.starts_with("--") && arg.find('=') == arg.size() - 1) {
      args.push_back(arg.substr(0, arg.size() - 1));
      args.emplace_back();
    } else {
      args.push_back(arg);
    }
  }
  std::vector<const char*> split;
  split.reserve(args.size());
  for (const std::string& arg : args)
    split.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(split.size()), split.data());
  } catch (const CLI::CallForHelp&) {
    return CommandLineExit{0, app.help()};
  } catch (const CLI::CallForVersion& e) {
    return CommandLineExit{0, e.what()};
  } catch (const CLI::ParseError& e) {
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    return CommandLineExit{2, app.get_name() + ": " + why + " (see --help)"};
  }
  return std::nullopt;
}

int exit_with(int code, const std::string& message) {
  (code == 0 ? std::cout : std::cerr) << message << '\n';
  return code;
}

bool start_logging(const std::string& program, const LogOptions& options) {
  if (auto logging = setup_logging(options); !logging) {
    std::cerr << program << ": " << logging.error().message << '\n';
    return false;
  }
  return true;
}

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

std::string StopSignals::wait() {
  int signal = 0;
  while (sigwait(&signals_, &signal) != 0) {
  }
  return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

bool StopSignals::requested() const {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

void StopSignals::request(const std::string& /*why*/) {
  kill(getpid(), SIGTERM);
}

std::string ManualStop::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return why_.has_value(); });
  std::string why = std::move(*why_);
  why_.reset();
  return why;
}

bool ManualStop::requested() const {
  const std::lock_guard lock(mutex_);
  return why_.has_value();
}

void ManualStop::request(const std::string& why) {
  {
    const std::lock_guard lock(mutex_);
    if (asked_) return;  // the first request decides, even after wait() took it
    asked_ = true;
    why_ = why;
  }
  cv_.notify_all();
}

}  // namespace ascend::kube
