#include "plugin/registration.hpp"

#include <grpcpp/grpcpp.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "api/deviceplugin.grpc.pb.h"

namespace ascend::plugin {

using kube::log::kv;
namespace {

constexpr std::uint32_t kDirEvents =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;

// What the directory events since the last look mean for us.
struct DirChange {
  bool kubelet_created = false;  // kubelet.sock appeared: a (new) kubelet is listening
  bool plugin_removed = false;   // our socket went away: the kubelet is restarting
  bool watch_lost = false;       // the directory itself went away or events overflowed
};

DirChange drain_events(int fd, const RegistrationOptions& options) {
  alignas(inotify_event) std::array<char, 8192> buffer{};
  DirChange change;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      inotify_event event{};
      std::memcpy(&event, buffer.data() + offset, sizeof event);
      const std::string_view name =
          event.len > 0 ? std::string_view(buffer.data() + offset + sizeof event) : "";
      if ((event.mask & (IN_CREATE | IN_MOVED_TO)) != 0 && name == options.kubelet_socket) {
        change.kubelet_created = true;
      }
      if ((event.mask & (IN_DELETE | IN_MOVED_FROM)) != 0 && name == options.plugin_socket) {
        change.plugin_removed = true;
      }
      if ((event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) != 0) {
        change.watch_lost = true;
      }
      offset += static_cast<ssize_t>(sizeof event + event.len);
    }
  }
  return change;
}

}  // namespace

Status register_with_kubelet(const RegistrationOptions& options) {
  const auto kubelet = options.socket_dir / options.kubelet_socket;
  grpc::ChannelArguments args;
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  auto channel = grpc::CreateCustomChannel("unix:" + kubelet.string(),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = v1beta1::Registration::NewStub(channel);

  v1beta1::RegisterRequest request;
  request.set_version("v1beta1");
  request.set_endpoint(options.plugin_socket);
  request.set_resource_name(options.resource_name);
  request.mutable_options()->set_pre_start_required(false);
  request.mutable_options()->set_get_preferred_allocation_available(true);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.register_timeout);
  v1beta1::Empty reply;
  const grpc::Status status = stub->Register(&context, request, &reply);
  if (!status.ok()) {
    return unavailable("register at " + kubelet.string() + " failed: " + status.error_message() +
                       " (code " + std::to_string(status.error_code()) + ")");
  }
  return {};
}

Registrar::Registrar(RegistrationOptions options, ServeFn serve, PluginEvents* events)
    : options_(std::move(options)),
      serve_(std::move(serve)),
      events_(events != nullptr ? *events : no_events_) {}

Registrar::~Registrar() {
  stop();
}

Registrar::FileId Registrar::identify(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileId{st.st_dev, st.st_ino, st.st_ctim, true};
}

void Registrar::start() {
  loop_.start([this](const std::stop_token& stop) { run(stop); });
}

void Registrar::stop() {
  if (!loop_.running()) return;
  loop_.stop();
  registered_ = false;
}

void Registrar::run(const std::stop_token& stop) {
  const auto plugin_path = options_.socket_dir / options_.plugin_socket;
  const auto kubelet_path = options_.socket_dir / options_.kubelet_socket;
  const int inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  int watch = -1;

  bool need_serve = true;
  bool need_register = true;
  auto backoff = options_.initial_backoff;
  std::uint64_t failures = 0;
  FileId served;         // our socket as we created it
  FileId registered_at;  // kubelet.sock when Register last succeeded
  bool waiting_logged = false;

  while (!stop.stop_requested()) {
    if (inotify_fd >= 0 && watch < 0) {
      watch = ::inotify_add_watch(inotify_fd, options_.socket_dir.c_str(), kDirEvents);
    }
    // Events are hints; the files decide. A starting kubelet deletes every socket in the
    // directory *before* it creates kubelet.sock, so kubelet.sock is looked at first: once
    // it exists, the clean-up that could remove our socket is over, and checking our socket
    // after that cannot race with it. (Checked the other way round, our socket could vanish
    // between the check and Register, and the kubelet would hang dialling it until our
    // Register deadline: seen with the kubelet's own registration server.)
    const bool kubelet_present = identify(kubelet_path).exists;
    if (!need_serve && !(identify(plugin_path) == served)) {
      logger().info("plugin socket gone (kubelet restarting?), serving again",
                    {kv("socket", plugin_path.string())});
      need_serve = true;
      registered_ = false;
      backoff = options_.initial_backoff;
    }
    std::chrono::milliseconds wait = options_.recheck_interval;
    if (need_serve) {
      const Status status = serve_();
      if (status.ok()) {
        need_serve = false;
        need_register = true;
        served = identify(plugin_path);
      } else {
        logger().error("cannot serve",
                       {kv("error", status.error().message), kv("retry_in_ms", backoff.count())});
        wait = backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }
    if (!need_serve && need_register && !kubelet_present) {
      // No kubelet yet (or it is restarting): its socket's creation wakes us through inotify;
      // the recheck interval covers a lost event.
      if (!waiting_logged) {
        logger().info("waiting for the kubelet", {kv("kubelet", kubelet_path.string())});
        waiting_logged = true;
      }
    } else if (!need_serve && need_register) {
      waiting_logged = false;
      const Status status = register_with_kubelet(options_);
      if (status.ok()) {
        need_register = false;
        registered_ = true;
        registered_at = identify(kubelet_path);
        registrations_.fetch_add(1);
        events_.registered();
        backoff = options_.initial_backoff;
        logger().info(
            "registered with kubelet",
            {kv("resource", options_.resource_name), kv("endpoint", options_.plugin_socket),
             kv("kubelet", kubelet_path.string()), kv("attempts", failures + 1)});
        failures = 0;
      } else {
        // The first failure is worth a warning, then about one a minute (every 12th retry at
        // the 5 s ceiling); debug level in between.
        if (failures % 12 == 0) {
          logger().warn("kubelet not reachable, will retry",
                        {kv("error", status.error().message), kv("retry_in_ms", backoff.count()),
                         kv("failures", failures + 1)});
        } else {
          logger().debug("register retry",
                         {kv("error", status.error().message), kv("retry_in_ms", backoff.count())});
        }
        ++failures;
        wait = backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }

    const bool events = loop_.wait(inotify_fd, wait);
    if (stop.stop_requested()) break;

    bool kubelet_created = false;
    if (events) {
      const DirChange change = drain_events(inotify_fd, options_);
      kubelet_created = change.kubelet_created;
      if (change.watch_lost && watch >= 0) {
        ::inotify_rm_watch(inotify_fd, watch);
        watch = -1;
      }
    }
    // A kubelet.sock other than the one we registered at means a new kubelet. (The creation
    // event alone is not enough: it may be queued from a restart we already handled.)
    const FileId kubelet_now = identify(kubelet_path);
    if (!need_register && !(kubelet_now == registered_at)) {
      logger().info("kubelet socket changed (kubelet restarted or stopped), registering again",
                    {kv("kubelet", kubelet_path.string())});
      need_register = true;
      registered_ = false;
      backoff = options_.initial_backoff;
    }
    if (need_register && kubelet_created) backoff = options_.initial_backoff;
  }
  if (inotify_fd >= 0) ::close(inotify_fd);
}

}  // namespace ascend::plugin
