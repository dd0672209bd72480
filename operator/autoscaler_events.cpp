#include "operator/autoscaler_events.hpp"

#include <algorithm>

#include "kube/object_meta.hpp"
#include "operator/contract.hpp"

namespace ascend::op {

namespace {

const std::string& text(const Json& object, const char* a, const char* b = nullptr) {
  static const std::string kEmpty;
  if (!object.is_object() || !object.contains(a)) return kEmpty;
  const Json* v = &object.at(a);
  if (b != nullptr) {
    if (!v->is_object() || !v->contains(b)) return kEmpty;
    v = &v->at(b);
  }
  return v->is_string() ? v->get_ref<const std::string&>() : kEmpty;
}

// The verdict a reason carries for a source, if it is one the operator acts on.
std::optional<AutoscalerVerdict> verdict(const std::string& source, const std::string& reason) {
  if (source == kClusterAutoscaler) {
    if (reason == "TriggeredScaleUp") return AutoscalerVerdict::kScaleUp;
    if (reason == "NotTriggerScaleUp") return AutoscalerVerdict::kNoFit;
  } else if (source == kKarpenter) {
    if (reason == "Nominated") return AutoscalerVerdict::kScaleUp;
    // Karpenter's own (source karpenter), not the scheduler's of the same reason.
    if (reason == "FailedScheduling") return AutoscalerVerdict::kNoFit;
  }
  return std::nullopt;
}

// The newest of an Event's times: series.lastObservedTime, lastTimestamp, eventTime,
// firstTimestamp (legacy recorders set the timestamps, events.k8s.io ones eventTime and series).
kube::WallTime newest_time(const Json& event) {
  kube::WallTime newest{};
  for (const auto& t : {text(event, "lastTimestamp"), text(event, "firstTimestamp")}) {
    if (const auto parsed = kube::parse_time(t)) newest = std::max(newest, *parsed);
  }
  for (const auto& t : {text(event, "eventTime"), text(event, "series", "lastObservedTime")}) {
    if (const auto parsed = kube::parse_micro_time(t)) newest = std::max(newest, *parsed);
  }
  return newest;
}

}  // namespace

std::optional<AutoscalerNote> autoscaler_note(const Json& event,
                                              const std::vector<std::string>& sources) {
  if (!event.is_object() || !event.contains("involvedObject")) return std::nullopt;
  const Json& involved = event.at("involvedObject");
  if (text(involved, "kind") != "Pod" || text(involved, "name").empty()) return std::nullopt;
  // The legacy source, else the reporting controller of events.k8s.io/v1 recorders.
  std::string source = text(event, "source", "component");
  if (source.empty()) source = text(event, "reportingComponent");
  if (std::find(sources.begin(), sources.end(), source) == sources.end()) return std::nullopt;
  const auto v = verdict(source, text(event, "reason"));
  if (!v) return std::nullopt;
  AutoscalerNote note;
  note.verdict = *v;
  note.source = source;
  note.reason = text(event, "reason");
  note.message = text(event, "message");
  note.pod_namespace = text(involved, "namespace");
  note.pod_name = text(involved, "name");
  note.pod_uid = text(involved, "uid");
  note.time = newest_time(event);
  note.event_key = kube::object_key(event);
  return note;
}

std::vector<std::string> autoscaler_event_selectors(const std::vector<std::string>& sources) {
  std::vector<std::string> selectors;
  selectors.reserve(sources.size());
  for (const auto& source : sources)
    selectors.push_back("involvedObject.kind=Pod,source=" + source);
  return selectors;
}

kube::Transform event_cache_transform() {
  return kube::keep_only({{"involvedObject", "kind"},
                          {"involvedObject", "namespace"},
                          {"involvedObject", "name"},
                          {"involvedObject", "uid"},
                          {"reason"},
                          {"message"},
                          {"source", "component"},
                          {"reportingComponent"},
                          {"firstTimestamp"},
                          {"lastTimestamp"},
                          {"eventTime"},
                          {"series", "lastObservedTime"}});
}

AutoscalerNotes::AutoscalerNotes(std::vector<std::string> sources) : sources_(std::move(sources)) {}

void AutoscalerNotes::observe(const kube::ObjectPtr& old_object,
                              const kube::ObjectPtr& new_object) {
  if (!new_object) {
    if (!old_object) return;
    const std::string key = kube::object_key(*old_object);
    const auto note = autoscaler_note(*old_object, sources_);
    if (!note) return;
    const std::lock_guard lock(mutex_);
    const auto it = notes_.find(note->pod_namespace + "/" + note->pod_name);
    if (it != notes_.end() && it->second.event_key == key) notes_.erase(it);
    return;
  }
  auto note = autoscaler_note(*new_object, sources_);
  if (!note) return;
  const std::string pod = note->pod_namespace + "/" + note->pod_name;
  const std::lock_guard lock(mutex_);
  const auto it = notes_.find(pod);
  // The newest word wins (as new: the later one to arrive); the same Event counted again
  // (aggregated) always replaces itself. An Event about an earlier Pod of the same name is
  // older than anything said about the new one.
  if (it != notes_.end() && it->second.event_key != note->event_key &&
      note->time < it->second.time) {
    return;
  }
  notes_[pod] = std::move(*note);
}

std::optional<AutoscalerNote> AutoscalerNotes::for_pod(const std::string& ns,
                                                       const std::string& name,
                                                       const std::string& uid) const {
  const std::lock_guard lock(mutex_);
  const auto it = notes_.find(ns + "/" + name);
  if (it == notes_.end() || (!uid.empty() && it->second.pod_uid != uid)) return std::nullopt;
  return it->second;
}

std::size_t AutoscalerNotes::size() const {
  const std::lock_guard lock(mutex_);
  return notes_.size();
}

std::vector<std::string> job_of_event(const kube::Store& pods, const Json& event) {
  if (!event.is_object() || !event.contains("involvedObject")) return {};
  const Json& involved = event.at("involvedObject");
  const std::string& ns = text(involved, "namespace");
  const auto pod = pods.get(ns + "/" + text(involved, "name"));
  if (!pod || !pod->contains("metadata")) return {};
  const Json& meta = pod->at("metadata");
  if (!meta.contains("labels") || !meta.at("labels").is_object()) return {};
  const std::string& name = text(meta.at("labels"), labels::kJobName);
  if (name.empty()) return {};
  return {ns + "/" + name};
}

}  // namespace ascend::op
