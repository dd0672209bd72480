// What a node autoscaler said about a job's Pending Pods (ARCHITECTURE.md, autoscaling). The
// cluster-autoscaler and Karpenter record Events on a Pod they considered: a scale-up for it
// is under way (cluster-autoscaler `TriggeredScaleUp`, Karpenter `Nominated`), or no node
// group can take it (`NotTriggerScaleUp`, Karpenter's own `FailedScheduling`). The operator
// watches only those two sources' Events on Pods (two field-selected Event informers, see
// autoscaler_event_watches()), keeps the newest per Pod here, and decide() turns it into the
// job's Running condition: "waiting for a new node" or why no node will come.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/clock.hpp"
#include "kube/resource.hpp"
#include "kube/store.hpp"
#include "kube/transform.hpp"
#include "operator/job.hpp"

namespace ascend::op {

/// The Event sources (`source.component`) the operator listens to, as the autoscalers name
/// themselves.
inline constexpr const char* kClusterAutoscaler = "cluster-autoscaler";
inline constexpr const char* kKarpenter = "karpenter";

/// Events in the core API (v1): the autoscalers record them there (legacy recorders), and its
/// field selectors know `source`, unlike events.k8s.io/v1 (kube::resources::kEvents).
inline const kube::Resource kCoreEvents{"", "v1", "events", "Event", true};

/// What an autoscaler's Event says about a Pod.
enum class AutoscalerVerdict {
  kScaleUp,  ///< A node is being added for it (or it was nominated to one coming up).
  kNoFit,    ///< No node group can take it: no node will be added.
};

struct AutoscalerNote {
  AutoscalerVerdict verdict = AutoscalerVerdict::kScaleUp;
  /// `cluster-autoscaler` or `karpenter`.
  std::string source;
  /// The Event's reason and message, as the autoscaler wrote them.
  std::string reason;
  std::string message;
  /// The Pod it is about.
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  /// When the autoscaler last said it (the newest of the Event's times).
  kube::WallTime time{};
  /// The Event's namespace/name, so its deletion forgets only what it said.
  std::string event_key;
  bool operator==(const AutoscalerNote&) const = default;
};

/// Reads one Event: a note when an autoscaler in `sources` recorded one of the reasons above
/// about a Pod; std::nullopt for anything else (other reasons, other sources, other kinds).
std::optional<AutoscalerNote> autoscaler_note(const Json& event,
                                              const std::vector<std::string>& sources);

/// The field selectors of the Event watches for `sources`, one each:
/// `involvedObject.kind=Pod,source=<name>` (a field selector cannot say "a or b").
std::vector<std::string> autoscaler_event_selectors(const std::vector<std::string>& sources);

/// What the Event caches keep: identity, involvedObject, reason, message, source and times.
kube::Transform event_cache_transform();

/// The newest note per Pod, fed by the Event stores' change handlers (observe()) and read by
/// reconciles (for_pod()). Thread-safe.
class AutoscalerNotes final {
 public:
  explicit AutoscalerNotes(std::vector<std::string> sources);

  /// A store ChangeHandler: an added or changed Event replaces the Pod's note when it is at
  /// least as new; a deleted Event forgets the note it made.
  void observe(const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object);
  /// The note about this Pod (matched by uid too: a Pod re-created under the same name starts
  /// afresh).
  [[nodiscard]] std::optional<AutoscalerNote> for_pod(const std::string& ns,
                                                      const std::string& name,
                                                      const std::string& uid) const;
  [[nodiscard]] std::size_t size() const;

 private:
  std::vector<std::string> sources_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, AutoscalerNote> notes_;  // pod ns/name -> note; guarded
};

/// The job key (namespace/name) of the Pod an autoscaler Event is about, read from the Pod
/// cache (its job-name label); empty when the Pod is not one of the operator's.
std::vector<std::string> job_of_event(const kube::Store& pods, const Json& event);

}  // namespace ascend::op
