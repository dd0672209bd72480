#include "kube/events.hpp"

#include <array>
#include <cstdio>

#include "kube/logging.hpp"
#include "kube/object_meta.hpp"

namespace ascend::kube {
namespace {

Json reference_to(const Json& object) {
  const Json meta = object.value("metadata", Json::object());
  Json ref = {{"apiVersion", object.value("apiVersion", std::string())},
              {"kind", object.value("kind", std::string())},
              {"name", meta.value("name", std::string())}};
  if (meta.contains("namespace")) ref["namespace"] = meta["namespace"];
  if (meta.contains("uid")) ref["uid"] = meta["uid"];
  if (meta.contains("resourceVersion")) ref["resourceVersion"] = meta["resourceVersion"];
  return ref;
}

}  // namespace

EventRecorder::EventRecorder(ClientPtr client, EventRecorderOptions options)
    : client_(std::move(client)), options_(std::move(options)), thread_([this] { work(); }) {}

EventRecorder::~EventRecorder() {
  stop();
}

void EventRecorder::record(const Json& regarding, const std::string& type,
                           const std::string& reason, const std::string& action,
                           const std::string& note) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || pending_.size() >= options_.max_pending) {
      if (options_.metrics) options_.metrics->event_dropped("queue_full");
      return;
    }
    pending_.push_back(
        {regarding, type, reason, action, note, options_.clock->wall_now(), options_.clock->now()});
  }
  cv_.notify_all();
}

void EventRecorder::flush() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return pending_.empty() && !busy_; });
}

void EventRecorder::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::work() {
  for (;;) {
    Pending next;
    {
      std::unique_lock lock(mutex_);
      busy_ = false;
      cv_.notify_all();
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping and drained
      next = std::move(pending_.front());
      pending_.pop_front();
      busy_ = true;
    }
    write(next);
  }
}

void EventRecorder::write(const Pending& p) {
  const Json ref = reference_to(p.regarding);
  const std::string ns = ref.value("namespace", std::string("default"));
  const std::string key = ref.value("uid", std::string()) + "|" + ref.value("kind", "") + "|" + ns +
                          "|" + ref.value("name", "") + "|" + p.type + "|" + p.reason + "|" +
                          p.action + "|" + p.note;
  const std::string now = format_micro_time(p.when);

  auto it = series_.find(key);
  if (it != series_.end() && p.steady - it->second.last < options_.series_window) {
    Series& s = it->second;
    ++s.count;
    s.last = p.steady;
    auto r = client_->patch(resources::kEvents, s.ns, s.name, PatchType::kMerge,
                            {{"series", {{"count", s.count}, {"lastObservedTime", now}}}});
    if (r) return;
    if (!r.error().not_found()) {
      log::warn("event series update failed",
                {log::kv("event", s.name), log::kv("error", r.error().to_string())});
      if (options_.metrics) options_.metrics->event_dropped("write_failed");
      return;
    }
    series_.erase(it);  // the Event expired on the server: start again
  }

  // Event names only need to be unique; client-go uses <object>.<hex timestamp>.
  std::array<char, 24> suffix{};
  std::snprintf(suffix.data(), suffix.size(), "%llx",
                static_cast<unsigned long long>(p.when.time_since_epoch().count()) + counter_++);
  const std::string name = ref.value("name", std::string("object")) + "." + suffix.data();
  const Json event = {{"apiVersion", "events.k8s.io/v1"},
                      {"kind", "Event"},
                      {"metadata", {{"name", name}, {"namespace", ns}}},
                      {"eventTime", now},
                      {"reportingController", options_.controller},
                      {"reportingInstance", options_.instance},
                      {"action", p.action},
                      {"reason", p.reason},
                      {"note", p.note.substr(0, 1024)},  // the API caps notes at 1 kB
                      {"type", p.type},
                      {"regarding", ref}};
  auto r = client_->create(resources::kEvents, event, ns);
  if (!r) {
    log::warn("event write failed",
              {log::kv("reason", p.reason), log::kv("error", r.error().to_string())});
    if (options_.metrics) options_.metrics->event_dropped("write_failed");
    return;
  }
  series_[key] = Series{name, ns, 1, p.steady};
  // Forget series that can no longer be extended, so the map stays small.
  for (auto s = series_.begin(); s != series_.end();) {
    s = p.steady - s->second.last >= options_.series_window ? series_.erase(s) : std::next(s);
  }
}

}  // namespace ascend::kube
