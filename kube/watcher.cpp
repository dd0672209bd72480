#include "kube/watcher.hpp"

#include "kube/logging.hpp"

namespace ascend::kube {

Watcher::Watcher(ClientPtr client, Resource type, std::shared_ptr<Store> store,
                 WatcherOptions options)
    : client_(std::move(client)),
      type_(std::move(type)),
      store_(std::move(store)),
      options_(std::move(options)),
      random_(std::random_device{}()),
      backoff_(options_.initial_backoff) {}

std::string Watcher::resource_version() const {
  const std::lock_guard lock(mutex_);
  return rv_;
}

Duration Watcher::next_backoff() const {
  const std::lock_guard lock(mutex_);
  return backoff_;
}

void Watcher::set_rv(const std::string& rv) {
  if (rv.empty()) return;
  const std::lock_guard lock(mutex_);
  rv_ = rv;
}

void Watcher::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
    if (current_ != nullptr) current_->cancel();
  }
  cv_.notify_all();
}

bool Watcher::wait_backoff() {
  std::unique_lock lock(mutex_);
  const SteadyTime deadline = options_.clock->now() + backoff_;
  log::debug(
      "watch backoff",
      {log::kv("resource", type_.plural),
       log::kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count())});
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  while (!stopped_ && options_.clock->now() < deadline) {
    options_.clock->wait_until(cv_, lock, deadline);
  }
  return !stopped_;
}

bool Watcher::list() {
  ListOptions o;
  o.label_selector = options_.label_selector;
  o.field_selector = options_.field_selector;
  o.limit = options_.page_size;
  // The first list may come from the watch cache; after a 410 we need a consistent read, or
  // the server could hand us the same too-old version again.
  // (assign(1, c): GCC 12 reports a false -Wrestrict for operator=(const char*) here.)
  if (!listed_once_) o.resource_version.assign(1, '0');
  ++lists_;
  if (listed_once_ && options_.metrics) options_.metrics->relist(type_.plural);
  auto r = client_->list(type_, options_.ns, o, options_.transform);
  if (!r) {
    log::warn("list failed",
              {log::kv("resource", type_.plural), log::kv("error", r.error().to_string())});
    return false;
  }
  listed_once_ = true;
  set_rv(r.value().resource_version);
  store_->replace(std::move(r.value().items));
  {
    const std::lock_guard lock(mutex_);
    backoff_ = options_.initial_backoff;
  }
  return true;
}

Watcher::State Watcher::watch_once() {
  WatchOptions o;
  o.resource_version = resource_version();
  o.label_selector = options_.label_selector;
  o.field_selector = options_.field_selector;
  o.allow_bookmarks = true;
  std::uniform_int_distribution<int> timeout(
      options_.min_timeout_seconds,
      std::max(options_.min_timeout_seconds, options_.max_timeout_seconds));
  o.timeout_seconds = timeout(random_);
  auto opened = client_->watch(type_, options_.ns, o);
  if (!opened) {
    if (opened.error().gone()) return State::kList;
    if (opened.error().reason == "Cancelled") return State::kStopped;
    log::warn("watch failed",
              {log::kv("resource", type_.plural), log::kv("error", opened.error().to_string())});
    return State::kBackoff;
  }
  std::unique_ptr<WatchStream> stream = std::move(opened.value());
  {
    const std::lock_guard lock(mutex_);
    if (stopped_) return State::kStopped;
    current_ = stream.get();
  }
  State next = State::kWatch;
  for (;;) {
    auto event = stream->next();
    if (!event) {
      next = event.error().reason == "Cancelled" ? State::kStopped : State::kBackoff;
      if (next == State::kBackoff) {
        log::info("watch broken",
                  {log::kv("resource", type_.plural), log::kv("error", event.error().to_string())});
      }
      break;
    }
    if (!event.value()) break;  // clean end: watch again from the last version
    WatchEvent& e = *event.value();
    if (e.type == "ERROR") {
      const Error status = error_from_status(e.object);
      log::info("watch error event",
                {log::kv("resource", type_.plural), log::kv("error", status.to_string())});
      next = status.gone() ? State::kList : State::kBackoff;
      break;
    }
    const std::string rv = kube::resource_version(e.object);
    const bool object_event = e.type == "ADDED" || e.type == "MODIFIED" || e.type == "DELETED";
    if (object_event && options_.transform) options_.transform(e.object);
    if (e.type == "ADDED" || e.type == "MODIFIED") {
      store_->apply(std::move(e.object));
    } else if (e.type == "DELETED") {
      store_->remove(e.object);
    } else if (e.type != "BOOKMARK") {
      log::warn("unknown watch event type", {log::kv("type", e.type)});
    }
    set_rv(rv);
    const std::lock_guard lock(mutex_);
    backoff_ = options_.initial_backoff;
  }
  {
    const std::lock_guard lock(mutex_);
    current_ = nullptr;
    if (stopped_) return State::kStopped;
  }
  if (options_.metrics) {
    options_.metrics->watch_restart(type_.plural, next == State::kWatch  ? "closed"
                                                  : next == State::kList ? "expired"
                                                                         : "error");
  }
  return next;
}

void Watcher::run() {
  State state = State::kList;
  State after_backoff = State::kList;
  for (;;) {
    {
      const std::lock_guard lock(mutex_);
      if (stopped_) state = State::kStopped;
    }
    state_ = state;
    switch (state) {
      case State::kList:
        state = list() ? State::kWatch : State::kBackoff;
        after_backoff = State::kList;
        break;
      case State::kWatch:
        state = watch_once();
        after_backoff = State::kWatch;
        break;
      case State::kBackoff:
        if (!wait_backoff()) {
          state_ = State::kStopped;
          return;
        }
        state = after_backoff;
        break;
      case State::kStopped:
        state_ = State::kStopped;
        return;
    }
  }
}

}  // namespace ascend::kube
