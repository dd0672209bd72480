#include "kube/work_queue.hpp"

#include <algorithm>
#include <cmath>

namespace ascend::kube {

WorkQueue::WorkQueue(WorkQueueOptions options)
    : options_(std::move(options)), bucket_(options_.qps, options_.burst, options_.clock) {}

void WorkQueue::report_depth_locked() {
  if (options_.metrics) {
    options_.metrics->queue_depth(options_.name, static_cast<double>(queue_.size()));
  }
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutdown_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (options_.metrics) options_.metrics->queue_add(options_.name);
  if (processing_.contains(key)) return;  // queued again by done()
  queue_.push_back(key);
  queued_at_.emplace(key, options_.clock->now());
  report_depth_locked();
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  const std::lock_guard lock(mutex_);
  add_locked(key);
}

void WorkQueue::add_after(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    add(key);
    return;
  }
  const std::lock_guard lock(mutex_);
  if (shutdown_) return;
  const SteadyTime due = options_.clock->now() + delay;
  if (auto it = waiting_due_.find(key); it != waiting_due_.end()) {
    if (it->second <= due) return;  // already due sooner
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  waiting_.emplace(due, key);
  waiting_due_[key] = due;
  cv_.notify_all();  // a get() may need to wake earlier
}

void WorkQueue::add_rate_limited(const std::string& key) {
  int failures = 0;
  {
    const std::lock_guard lock(mutex_);
    failures = failures_[key]++;
  }
  // base * 2^failures, computed in floating point so large counts saturate at the cap.
  const double scaled = std::chrono::duration<double>(options_.base_delay).count() *
                        std::pow(2.0, std::min(failures, 62));
  const Duration per_item =
      scaled >= std::chrono::duration<double>(options_.max_delay).count()
          ? options_.max_delay
          : std::chrono::duration_cast<Duration>(std::chrono::duration<double>(scaled));
  const Duration overall = bucket_.reserve();
  if (options_.metrics) options_.metrics->queue_retry(options_.name);
  add_after(key, std::max(per_item, overall));
}

void WorkQueue::forget(const std::string& key) {
  const std::lock_guard lock(mutex_);
  failures_.erase(key);
}

int WorkQueue::failures(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promote_due_locked(SteadyTime now) {
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    const std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_due_.erase(key);
    add_locked(key);
  }
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (shutdown_) return std::nullopt;
    const SteadyTime now = options_.clock->now();
    promote_due_locked(now);
    if (!queue_.empty()) break;
    const SteadyTime deadline =
        waiting_.empty() ? now + std::chrono::seconds(1) : waiting_.begin()->first;
    options_.clock->wait_until(cv_, lock, deadline);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  if (auto it = queued_at_.find(key); it != queued_at_.end()) {
    if (options_.metrics) {
      options_.metrics->queue_latency(options_.name, options_.clock->now() - it->second);
    }
    queued_at_.erase(it);
  }
  report_depth_locked();
  return key;
}

void WorkQueue::done(const std::string& key) {
  const std::lock_guard lock(mutex_);
  processing_.erase(key);
  if (dirty_.contains(key) && !shutdown_) {
    queue_.push_back(key);
    queued_at_.emplace(key, options_.clock->now());
    report_depth_locked();
    cv_.notify_one();
  }
}

void WorkQueue::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    shutdown_ = true;
  }
  cv_.notify_all();
  bucket_.shutdown();
}

bool WorkQueue::shutting_down() const {
  const std::lock_guard lock(mutex_);
  return shutdown_;
}

std::size_t WorkQueue::length() const {
  const std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t WorkQueue::delayed() const {
  const std::lock_guard lock(mutex_);
  return waiting_.size();
}

}  // namespace ascend::kube
