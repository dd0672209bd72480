#include "operator/job_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace ascend::op {

JobMetrics::JobMetrics(prometheus::Registry& registry, const std::string& component)
    : jobs_(
          prometheus::BuildGauge()
              .Name(component + "_jobs")
              .Help(
                  "LlamaFactoryJobs in the operator's cache, by status.phase (New: no status yet)")
              .Register(registry)),
      pods_created_(prometheus::BuildCounter()
                        .Name(component + "_pods_created_total")
                        .Help("Worker Pods the operator created")
                        .Register(registry)),
      pods_deleted_(prometheus::BuildCounter()
                        .Name(component + "_pods_deleted_total")
                        .Help("Worker Pods the operator deleted (restarts, suspend, finished jobs)")
                        .Register(registry)),
      status_writes_(prometheus::BuildCounter()
                         .Name(component + "_status_writes_total")
                         .Help("Job status writes by result (written, conflict); unchanged "
                               "statuses are not written")
                         .Register(registry)),
      children_applied_(prometheus::BuildCounter()
                            .Name(component + "_children_applied_total")
                            .Help("ConfigMaps and Services applied because they were missing or "
                                  "differed, by kind")
                            .Register(registry)),
      transitions_(prometheus::BuildCounter()
                       .Name(component + "_job_transitions_total")
                       .Help("Job phase transitions this replica wrote, by the phase entered")
                       .Register(registry)),
      startup_taints_removed_(prometheus::BuildCounter()
                                  .Name(component + "_startup_taints_removed_total")
                                  .Help("Startup taints removed from Nodes whose allocatable "
                                        "showed the NPUs")
                                  .Register(registry)) {
  // Every phase is exported from the start, so a dashboard sees 0 rather than no series.
  for (const char* phase : kPhases)
    jobs_.Add({{"phase", phase}});
}

prometheus::Gauge& JobMetrics::phase_gauge(const kube::ObjectPtr& job) {
  // Copies of the small status object: lenient about what a hand-edited status holds.
  const nlohmann::json status = job->value("status", nlohmann::json::object());
  const nlohmann::json phase =
      status.is_object() ? status.value("phase", nlohmann::json()) : nlohmann::json();
  const Phase known =
      phase.is_string() ? phase_from_name(phase.get_ref<const std::string&>()) : Phase::kNone;
  return jobs_.Add(
      {{"phase", known == Phase::kNone ? std::string(kPhases[0]) : phase_name(known)}});
}

void JobMetrics::job_changed(const kube::ObjectPtr& old_object, const kube::ObjectPtr& new_object) {
  if (old_object) phase_gauge(old_object).Decrement();
  if (new_object) phase_gauge(new_object).Increment();
}

void JobMetrics::pod_created() {
  pods_created_.Add({}).Increment();
}

void JobMetrics::pod_deleted() {
  pods_deleted_.Add({}).Increment();
}

void JobMetrics::status_write(const std::string& result) {
  status_writes_.Add({{"result", result}}).Increment();
}

void JobMetrics::child_applied(const std::string& kind) {
  children_applied_.Add({{"kind", kind}}).Increment();
}

void JobMetrics::transition(Phase phase) {
  transitions_.Add({{"phase", phase_name(phase)}}).Increment();
}

void JobMetrics::startup_taint_removed() {
  startup_taints_removed_.Add({}).Increment();
}

}  // namespace ascend::op
