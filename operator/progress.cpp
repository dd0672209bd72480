#include "operator/progress.hpp"

#include <cmath>
#include <cstdio>

namespace ascend::op {

namespace {

kube::Error invalid(const std::string& field, const std::string& what) {
  return kube::Error{0, "Invalid", field + ": " + what};
}

// A whole number >= 0; JSON writers may print 40 as 40.0, so a number with no fraction counts.
kube::Result<std::int64_t> whole(const Json& report, const char* key, bool required) {
  const auto it = report.find(key);
  if (it == report.end() || it->is_null()) {
    if (required) return invalid(key, "is required");
    return std::int64_t{0};
  }
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0) return it->get<std::int64_t>();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::isfinite(v) && v >= 0 && v < 9e15 && std::floor(v) == v) {
      return static_cast<std::int64_t>(v);
    }
  }
  return invalid(key, "must be a whole number >= 0 (got " + it->dump() + ")");
}

kube::Result<std::optional<double>> number(const Json& report, const char* key) {
  const auto it = report.find(key);
  if (it == report.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number() || !std::isfinite(it->get<double>())) {
    return invalid(key, "must be a number (got " + it->dump() + ")");
  }
  return std::optional<double>(it->get<double>());
}

}  // namespace

kube::Result<Progress> parse_progress_report(const Json& report, const std::string& received_at) {
  if (!report.is_object()) return invalid("report", "must be a JSON object");
  Progress p;
  const auto step = whole(report, "current_steps", true);
  if (!step) return step.error();
  const auto total = whole(report, "total_steps", true);
  if (!total) return total.error();
  const auto resumed = whole(report, "resumed_from_step", false);
  if (!resumed) return resumed.error();
  p.step = step.value();
  p.total_steps = total.value();
  p.resumed_from_step = resumed.value();
  const auto percent_read = number(report, "percentage");
  if (!percent_read) return percent_read.error();
  const std::optional<double> percent = percent_read.value();
  if (percent && (*percent < 0 || *percent > 100)) {
    return invalid("percentage", "must be between 0 and 100");
  }
  // Without percentage, the steps say it (LLaMA-Factory rounds it to 2 decimals).
  p.percent = percent.value_or(
      p.total_steps > 0
          ? std::round(10000.0 * static_cast<double>(p.step) / static_cast<double>(p.total_steps)) /
                100.0
          : 0.0);
  for (const auto& [key, field] : {std::pair{"epoch", &p.epoch}, std::pair{"loss", &p.loss},
                                   std::pair{"lr", &p.learning_rate}}) {
    const auto v = number(report, key);
    if (!v) return v.error();
    *field = v.value();
  }
  if (const auto it = report.find("remaining_time"); it != report.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 64) {
      return invalid("remaining_time", "must be a string of at most 64 characters");
    }
    p.eta = it->get<std::string>();
  }
  p.updated_at = received_at;
  return p;
}

std::string describe_progress(const Progress& p) {
  std::string text = "step " + std::to_string(p.step) + "/" + std::to_string(p.total_steps);
  if (p.loss) {
    char loss[32];
    std::snprintf(loss, sizeof(loss), "%.4g", *p.loss);
    text += ", loss " + std::string(loss);
  }
  return text;
}

std::chrono::milliseconds ProgressStore::delay(const Entry& e, Clock::time_point now) const {
  if (!e.last_write) return std::chrono::milliseconds(0);
  const auto at = *e.last_write + min_interval_;
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(at - now);
}

std::optional<std::chrono::milliseconds> ProgressStore::record(const std::string& key,
                                                               Progress progress,
                                                               Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  Entry& e = entries_[key];
  e.newest = std::move(progress);
  e.unwritten = true;
  const auto wait = delay(e, now);
  // A reconcile already asked for, not yet passed, writes this report too.
  if (e.scheduled && *e.scheduled >= now && *e.scheduled <= now + wait) return std::nullopt;
  e.scheduled = now + wait;
  return wait;
}

std::optional<Progress> ProgressStore::due(const std::string& key, Clock::time_point now) const {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.unwritten) return std::nullopt;
  if (delay(it->second, now) > std::chrono::milliseconds(0)) return std::nullopt;
  return it->second.newest;
}

std::optional<std::chrono::milliseconds> ProgressStore::wait(const std::string& key,
                                                             Clock::time_point now) const {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.unwritten) return std::nullopt;
  return delay(it->second, now);
}

void ProgressStore::written(const std::string& key, const Progress& progress,
                            Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.last_write = now;
  e.scheduled.reset();
  // A newer report that arrived meanwhile still waits for its turn.
  if (e.newest == progress) e.unwritten = false;
}

void ProgressStore::forget(const std::string& key) {
  const std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::size_t ProgressStore::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace ascend::op
