#include "operator/job_metrics.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <sstream>

namespace ascend::op {
namespace {

kube::ObjectPtr job(const std::string& name, const std::string& phase) {
  nlohmann::json object = {{"metadata", {{"name", name}, {"namespace", "ns"}}}};
  if (!phase.empty()) object["status"]["phase"] = phase;
  return std::make_shared<const nlohmann::json>(std::move(object));
}

class JobMetricsTest : public ::testing::Test {
 protected:
  std::string scrape() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_.Collect());
    return out.str();
  }
  /// The line of one series, e.g. `llamafactory_operator_jobs{phase="Running"} 2`.
  bool has(const std::string& line) const {
    return ("\n" + scrape()).find("\n" + line + "\n") != std::string::npos;
  }

  prometheus::Registry registry_;
  JobMetrics metrics_{registry_, "llamafactory_operator"};
};

TEST_F(JobMetricsTest, EveryPhaseIsExportedAtZeroFromTheStart) {
  for (const char* phase : JobMetrics::kPhases) {
    EXPECT_TRUE(has(std::string("llamafactory_operator_jobs{phase=\"") + phase + "\"} 0"))
        << phase << "\n"
        << scrape();
  }
}

TEST_F(JobMetricsTest, FollowsJobsThroughTheirPhases) {
  const auto a_new = job("a", "");
  const auto a_pending = job("a", "Pending");
  const auto a_running = job("a", "Running");
  const auto b_running = job("b", "Running");
  metrics_.job_changed(nullptr, a_new);
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"New\"} 1")) << scrape();
  metrics_.job_changed(a_new, a_pending);
  metrics_.job_changed(nullptr, b_running);
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"New\"} 0")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"Pending\"} 1")) << scrape();
  metrics_.job_changed(a_pending, a_running);
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"Pending\"} 0")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"Running\"} 2")) << scrape();
  metrics_.job_changed(b_running, nullptr);  // deleted
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"Running\"} 1")) << scrape();
}

TEST_F(JobMetricsTest, AnUnknownOrMalformedPhaseCountsAsNew) {
  metrics_.job_changed(nullptr, job("a", "Exploded"));
  auto odd = std::make_shared<const nlohmann::json>(nlohmann::json{{"status", {{"phase", 3}}}});
  metrics_.job_changed(nullptr, odd);
  EXPECT_TRUE(has("llamafactory_operator_jobs{phase=\"New\"} 2")) << scrape();
  EXPECT_EQ(scrape().find("Exploded"), std::string::npos);
}

TEST_F(JobMetricsTest, CountsWhatReconcilesDid) {
  metrics_.pod_created();
  metrics_.pod_created();
  metrics_.pod_deleted();
  metrics_.status_write("written");
  metrics_.status_write("conflict");
  metrics_.child_applied("Service");
  metrics_.transition(Phase::kRunning);
  EXPECT_TRUE(has("llamafactory_operator_pods_created_total 2")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_pods_deleted_total 1")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_status_writes_total{result=\"written\"} 1")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_status_writes_total{result=\"conflict\"} 1")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_children_applied_total{kind=\"Service\"} 1")) << scrape();
  EXPECT_TRUE(has("llamafactory_operator_job_transitions_total{phase=\"Running\"} 1")) << scrape();
}

}  // namespace
}  // namespace ascend::op
