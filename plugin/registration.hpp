#pragma once

// Keeps the plugin registered with the kubelet. Serves first, then calls Register on
// kubelet.sock; retries with backoff while the kubelet is absent; and when the kubelet restarts
// (it deletes every socket in the directory, then creates kubelet.sock anew, as NVIDIA's and
// Huawei's plugins both rely on) serves again and re-registers. The directory is watched with
// inotify, so that takes milliseconds, and re-checked every second in case an event is missed.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>

#include "plugin/error.hpp"
#include "plugin/events.hpp"
#include "plugin/wake_loop.hpp"

namespace ascend::plugin {

/// Where and as what to register.
struct RegistrationOptions {
  std::filesystem::path socket_dir;
  std::string kubelet_socket = "kubelet.sock";
  std::string plugin_socket = "Ascend910.sock";
  std::string resource_name = "huawei.com/Ascend910";
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds register_timeout{5000};
  std::chrono::milliseconds recheck_interval{1000};
};

/// (Re)starts the plugin's gRPC server on <socket_dir>/<plugin_socket>.
using ServeFn = std::function<Status()>;

/// Calls Register once on the kubelet at <socket_dir>/<kubelet_socket> (channel authority
/// "localhost", as the kubelet's own clients use since kubernetes PR #112597).
/// Errors: kUnavailable with the gRPC status when the kubelet is absent or refuses.
Status register_with_kubelet(const RegistrationOptions& options);

/// Runs the serve-and-register loop on its own thread.
class Registrar final {
 public:
  /// events may be null; it must outlive the registrar.
  Registrar(RegistrationOptions options, ServeFn serve, PluginEvents* events = nullptr);
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  /// Starts the loop: serve, register, watch. Never gives up while running.
  void start();
  /// Stops and joins the loop. Does not stop the gRPC server (the caller owns it). Idempotent.
  void stop();

  /// Successful Register calls so far.
  std::uint64_t registrations() const { return registrations_.load(); }
  /// True while the last Register succeeded and nothing since suggests the kubelet restarted.
  bool registered() const { return registered_.load(); }

 private:
  struct FileId {
    dev_t device = 0;
    ino_t inode = 0;
    timespec changed{};  // with the inode: a file made anew differs even if the inode is reused
    bool exists = false;
    bool operator==(const FileId& o) const {
      return device == o.device && inode == o.inode && changed.tv_sec == o.changed.tv_sec &&
             changed.tv_nsec == o.changed.tv_nsec && exists == o.exists;
    }
  };
  static FileId identify(const std::filesystem::path& path);
  void run(const std::stop_token& stop);

  const RegistrationOptions options_;
  const ServeFn serve_;
  PluginEvents no_events_;
  PluginEvents& events_;
  std::atomic<std::uint64_t> registrations_{0};
  std::atomic<bool> registered_{false};
  WakeLoop loop_;  // the background thread; its stop() wakes run() at once
};

}  // namespace ascend::plugin
