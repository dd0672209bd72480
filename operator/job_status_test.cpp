#include "operator/job_status.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "kube/object_meta.hpp"

namespace ascend::op {
namespace {

using std::chrono::seconds;

const kube::WallTime kT0 = std::chrono::system_clock::from_time_t(1700000000);

Job make_job(int nodes = 1, RestartPolicy policy = RestartPolicy::kOnFailure,
             RestartScope scope = RestartScope::kJob, int max_restarts = 3) {
  Job job;
  job.ns = "team";
  job.name = "sft";
  job.uid = "uid-1";
  job.generation = 1;
  job.spec.nodes = nodes;
  job.spec.npus_per_node = 8;
  job.spec.config = Json{{"stage", "sft"}};
  job.spec.run_policy.restart_policy = policy;
  job.spec.run_policy.restart_scope = scope;
  job.spec.run_policy.max_restarts = max_restarts;
  return job;
}

ObservedPod pod(int rank, int attempt, PodPhase phase,
                std::optional<int> exit_code = std::nullopt) {
  ObservedPod p;
  p.name = "sft-worker-" + std::to_string(rank);
  p.uid = "pod-" + std::to_string(rank) + "-" + std::to_string(attempt);
  p.rank = rank;
  p.attempt = attempt;
  p.phase = phase;
  p.exit_code = exit_code;
  if (phase == PodPhase::kFailed) p.reason = "Error";
  return p;
}

// Runs the first decision (no Pods) and makes its status the job's, as after a status write.
Job started(Job job, kube::WallTime at = kT0) {
  job.status = decide(job, {}, at).status;
  return job;
}

bool has_event(const Decision& d, const std::string& reason) {
  for (const auto& e : d.events) {
    if (e.reason == reason) return true;
  }
  return false;
}

TEST(JobStatus, FirstDecisionCreatesEveryRankAndMarksCreated) {
  const Job job = make_job(2);
  const Decision d = decide(job, {}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kPending);
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 0}, {1, 0}}));
  EXPECT_TRUE(d.remove.empty());
  ASSERT_NE(d.status.condition("Created"), nullptr);
  EXPECT_EQ(d.status.condition("Created")->status, "True");
  EXPECT_EQ(d.status.condition("Created")->reason, "JobCreated");
  EXPECT_EQ(d.status.start_time, "2023-11-14T22:13:20Z");
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{0, 0}));
  EXPECT_EQ(d.status.active, 2) << "the Pods about to be created are Pending";
  EXPECT_EQ(d.status.observed_generation, 1);
  EXPECT_EQ(d.status.webui_endpoint, "") << "a train job serves nothing";
  EXPECT_EQ(d.status.api_endpoint, "");
  EXPECT_TRUE(has_event(d, "JobCreated"));
  EXPECT_EQ(d.status.condition("Running"), nullptr)
      << "no reason to say anything about Running yet";
}

TEST(JobStatus, TrainOrExportClearsEndpointsAnOlderOperatorWrote) {
  for (const Mode mode : {Mode::kTrain, Mode::kExport}) {
    Job job = make_job(1);
    job.spec.mode = mode;
    job.status.webui_endpoint = "http://sft.team.svc:7860";  // written by an older operator
    const Decision d = decide(job, {}, kT0);
    EXPECT_EQ(d.status.webui_endpoint, "") << mode_name(mode);
    EXPECT_EQ(d.status.api_endpoint, "") << mode_name(mode);
  }
}

TEST(JobStatus, PendingUntilEveryRankRuns) {
  const Job job = started(make_job(2));
  Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kPending)}, kT0 + seconds(5));
  EXPECT_EQ(d.status.phase, Phase::kPending);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.status.active, 2);

  d = decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kRunning)}, kT0 + seconds(6));
  EXPECT_EQ(d.status.phase, Phase::kRunning);
  ASSERT_NE(d.status.condition("Running"), nullptr);
  EXPECT_EQ(d.status.condition("Running")->status, "True");
  EXPECT_EQ(d.status.condition("Running")->reason, "AllRanksRunning");
  EXPECT_EQ(d.status.condition("Running")->message, "2 of 2 rank(s) running");
  EXPECT_TRUE(has_event(d, "Running"));
}

TEST(JobStatus, CreatedPodsArrivingChangeNoStatus) {
  // One status write for Pending, one for Running: Pods showing up one by one, Pending, are
  // what the first status already said.
  const Job job = started(make_job(2));
  for (const auto& pods :
       {std::vector<ObservedPod>{pod(1, 0, PodPhase::kPending)},
        std::vector<ObservedPod>{pod(0, 0, PodPhase::kPending), pod(1, 0, PodPhase::kPending)},
        std::vector<ObservedPod>{pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kPending)}}) {
    const Decision d = decide(job, pods, kT0 + seconds(1));
    EXPECT_TRUE(same_status_ignoring_timestamps(d.status, job.status)) << pods.size();
    EXPECT_EQ(d.status.active, 2);
  }
}

TEST(JobStatus, CreatesOnlyMissingRanks) {
  const Job job = started(make_job(3));
  const Decision d = decide(job, {pod(1, 0, PodPhase::kRunning)}, kT0);
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 0}, {2, 0}}));
}

TEST(JobStatus, SucceedsWhenEveryRankSucceeded) {
  Job job = started(make_job(2));
  Decision d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0), pod(1, 0, PodPhase::kRunning)},
                      kT0 + seconds(9));
  EXPECT_EQ(d.status.phase, Phase::kRunning) << "one rank done, one still running";
  EXPECT_EQ(d.status.succeeded, 1);
  EXPECT_EQ(d.status.active, 1);

  d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0), pod(1, 0, PodPhase::kSucceeded, 0)},
             kT0 + seconds(10));
  EXPECT_EQ(d.status.phase, Phase::kSucceeded);
  EXPECT_EQ(d.status.completion_time, kube::format_time(kT0 + seconds(10)));
  EXPECT_EQ(d.status.condition("Succeeded")->status, "True");
  EXPECT_EQ(d.status.condition("Succeeded")->reason, "AllRanksSucceeded");
  EXPECT_EQ(d.status.condition("Running")->status, "False");
  EXPECT_TRUE(d.remove.empty()) << "finished Pods are kept for their logs";
  EXPECT_TRUE(d.create.empty());
  EXPECT_TRUE(has_event(d, "AllRanksSucceeded"));

  // Final: nothing more happens, and a Pod that vanished is not re-created.
  job.status = d.status;
  d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(20));
  EXPECT_EQ(d.status.phase, Phase::kSucceeded);
  EXPECT_TRUE(d.create.empty());
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(same_status_ignoring_timestamps(d.status, job.status));
}

// One row per restart policy and exit-code class on a single-rank job.
struct FailureCase {
  const char* name;
  RestartPolicy policy;
  std::optional<int> exit_code;
  int restarts_before;
  int max_restarts;
  Phase phase;         // after the decision
  const char* reason;  // of the Failed or Restarting condition
  int restarts_after;
};

// A failure the policy retries: one restart more (of maxRestarts 3), phase Restarting.
FailureCase restarts(const char* name, RestartPolicy policy, std::optional<int> exit_code,
                     const char* reason, int restarts_before = 0) {
  return {
      name, policy, exit_code, restarts_before, 3, Phase::kRestarting, reason, restarts_before + 1};
}

// A failure that ends the job: phase Failed, no restart counted.
FailureCase fails(const char* name, RestartPolicy policy, std::optional<int> exit_code,
                  const char* reason, int restarts_before = 0, int max_restarts = 3) {
  return {name,         policy,         exit_code, restarts_before,
          max_restarts, Phase::kFailed, reason,    restarts_before};
}

class FailureTable : public ::testing::TestWithParam<FailureCase> {};

TEST_P(FailureTable, ClassifiesAndCounts) {
  const FailureCase& c = GetParam();
  Job job = started(make_job(1, c.policy, RestartScope::kJob, c.max_restarts));
  job.status.restarts = c.restarts_before;
  job.status.rank_attempts = {c.restarts_before};
  const Decision d =
      decide(job, {pod(0, c.restarts_before, PodPhase::kFailed, c.exit_code)}, kT0 + seconds(30));
  EXPECT_EQ(d.status.phase, c.phase);
  EXPECT_EQ(d.status.restarts, c.restarts_after);
  const Condition* cond =
      d.status.condition(d.status.phase == Phase::kFailed ? "Failed" : "Restarting");
  ASSERT_NE(cond, nullptr);
  EXPECT_EQ(cond->status, "True");
  EXPECT_EQ(cond->reason, c.reason);
  ASSERT_TRUE(d.status.last_failure.has_value());
  EXPECT_EQ(d.status.last_failure->pod, "sft-worker-0");
  EXPECT_EQ(d.status.last_failure->exit_code, c.exit_code);
  EXPECT_EQ(d.status.failed, 1);
  EXPECT_TRUE(d.create.empty()) << "the old Pod must be gone before its name is reused";
  if (d.status.phase == Phase::kRestarting) {
    EXPECT_EQ(d.status.rank_attempts, std::vector<int>{c.restarts_before + 1});
    ASSERT_EQ(d.remove.size(), 1U);
    EXPECT_EQ(d.remove[0].uid, "pod-0-" + std::to_string(c.restarts_before));
    EXPECT_TRUE(has_event(d, "Restarting"));
  } else {
    EXPECT_EQ(d.status.rank_attempts, std::vector<int>{c.restarts_before});
    EXPECT_TRUE(d.remove.empty()) << "a failed Pod is kept for its logs";
    EXPECT_FALSE(d.status.completion_time.empty());
    EXPECT_EQ(d.status.condition("Running")->status, "False");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, FailureTable,
    ::testing::Values(
        fails("NeverCode1", RestartPolicy::kNever, 1, "PodFailed"),
        fails("NeverCode137", RestartPolicy::kNever, 137, "PodFailed"),
        restarts("OnFailureCode1", RestartPolicy::kOnFailure, 1, "PodFailed"),
        restarts("OnFailureCode137", RestartPolicy::kOnFailure, 137, "PodFailed", 2),
        fails("OnFailureBudgetSpent", RestartPolicy::kOnFailure, 1, "MaxRestartsExceeded", 3),
        fails("OnFailureNoBudget", RestartPolicy::kOnFailure, 2, "MaxRestartsExceeded", 0, 0),
        fails("ExitCode1", RestartPolicy::kExitCode, 1, "NonRetryableExitCode"),
        fails("ExitCode127", RestartPolicy::kExitCode, 127, "NonRetryableExitCode"),
        restarts("ExitCode128", RestartPolicy::kExitCode, 128, "RetryableExitCode"),
        restarts("ExitCode137", RestartPolicy::kExitCode, 137, "RetryableExitCode", 1),
        restarts("ExitCode255", RestartPolicy::kExitCode, 255, "RetryableExitCode"),
        restarts("ExitCodeUnknownIsRetryable", RestartPolicy::kExitCode, std::nullopt,
                 "RetryableExitCode"),
        fails("ExitCode137BudgetSpent", RestartPolicy::kExitCode, 137, "MaxRestartsExceeded", 3)),
    [](const ::testing::TestParamInfo<FailureCase>& row) { return std::string(row.param.name); });

TEST(JobStatus, JobScopeRestartsEveryRankOnce) {
  const Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kJob));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kFailed, 137)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  EXPECT_EQ(d.status.restarts, 1);
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{1, 1}));
  EXPECT_EQ(d.remove,
            (std::vector<PodRef>{{"sft-worker-0", "pod-0-0"}, {"sft-worker-1", "pod-1-0"}}));
  EXPECT_EQ(d.status.last_failure->rank, 1);
  EXPECT_EQ(d.status.condition("Running")->reason, "Restarting");
}

TEST(JobStatus, JobScopeCountsSimultaneousFailuresAsOneRestart) {
  const Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kJob, 1));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kFailed, 137), pod(1, 0, PodPhase::kFailed, 137)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  EXPECT_EQ(d.status.restarts, 1);
}

TEST(JobStatus, PodScopeRestartsOnlyTheFailedRank) {
  const Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kPod));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kFailed, 1)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  EXPECT_EQ(d.status.restarts, 1);
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{0, 1}));
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-1", "pod-1-0"}}));
}

TEST(JobStatus, PodScopeCountsEachFailedRank) {
  const Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kPod, 1));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kFailed, 1), pod(1, 0, PodPhase::kFailed, 1)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kFailed) << "two restarts needed, one allowed";
  EXPECT_EQ(d.status.condition("Failed")->reason, "MaxRestartsExceeded");
}

TEST(JobStatus, PermanentFailureStopsTheOtherRanks) {
  const Job job = started(make_job(2, RestartPolicy::kExitCode));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kFailed, 2)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kFailed);
  EXPECT_EQ(d.status.condition("Failed")->reason, "NonRetryableExitCode");
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-0", "pod-0-0"}}));
  EXPECT_NE(d.status.condition("Failed")->message.find("exit code 2"), std::string::npos);
}

TEST(JobStatus, ExitCodePolicyBlamesThePermanentFailure) {
  const Job job = started(make_job(2, RestartPolicy::kExitCode));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kFailed, 137), pod(1, 0, PodPhase::kFailed, 3)}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kFailed);
  EXPECT_EQ(d.status.last_failure->rank, 1);
  EXPECT_EQ(d.status.last_failure->exit_code, 3);
}

// The restart sequence step by step, feeding each status back as after a write: a failure is
// counted once however often the stale Pod is seen, and the new attempt is created only after
// the old Pod is gone.
TEST(JobStatus, RestartSequenceCountsOnceAndRecreatesAfterDeletion) {
  Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kJob));
  Decision d = decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kFailed, 1)},
                      kT0 + seconds(1));
  ASSERT_EQ(d.status.restarts, 1);
  job.status = d.status;

  // The cache still shows the old Pods (one already terminating).
  ObservedPod terminating = pod(0, 0, PodPhase::kRunning);
  terminating.deleting = true;
  d = decide(job, {terminating, pod(1, 0, PodPhase::kFailed, 1)}, kT0 + seconds(2));
  EXPECT_EQ(d.status.restarts, 1) << "a stale failed Pod is not counted again";
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-1", "pod-1-0"}}));
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  job.status = d.status;

  // Rank 1 is gone, rank 0 still terminating: only rank 1 is re-created, in attempt 1.
  d = decide(job, {terminating}, kT0 + seconds(3));
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{1, 1}}));
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  job.status = d.status;

  d = decide(job, {}, kT0 + seconds(4));
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 1}, {1, 1}}));
  job.status = d.status;

  d = decide(job, {pod(0, 1, PodPhase::kPending), pod(1, 1, PodPhase::kRunning)}, kT0 + seconds(5));
  EXPECT_EQ(d.status.phase, Phase::kRestarting) << "stays Restarting until every rank runs again";
  job.status = d.status;

  d = decide(job, {pod(0, 1, PodPhase::kRunning), pod(1, 1, PodPhase::kRunning)}, kT0 + seconds(6));
  EXPECT_EQ(d.status.phase, Phase::kRunning);
  EXPECT_EQ(d.status.condition("Restarting")->status, "False");
  EXPECT_EQ(d.status.condition("Running")->status, "True");
  EXPECT_EQ(d.status.restarts, 1);
}

TEST(JobStatus, PodOfANewerAttemptHoldsCreationUntilTheStatusCatchesUp) {
  Job job = started(make_job(2));
  const Decision d = decide(job, {pod(0, 1, PodPhase::kPending)}, kT0);
  EXPECT_TRUE(d.create.empty());
  EXPECT_TRUE(d.remove.empty());
}

TEST(JobStatus, PodsOutsideTheRankRangeOrUnlabelledAreDeleted) {
  Job job = started(make_job(1));
  ObservedPod unlabelled = pod(0, 0, PodPhase::kRunning);
  unlabelled.rank = -1;
  unlabelled.uid = "x";
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(3, 0, PodPhase::kRunning), unlabelled}, kT0);
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-3", "pod-3-0"}, {"sft-worker-0", "x"}}));
  EXPECT_EQ(d.status.phase, Phase::kRunning);
}

TEST(JobStatus, DeadlineFailsTheJobAndStopsItsPods) {
  Job job = make_job(1);
  job.spec.run_policy.active_deadline_seconds = 60;
  job = started(job);
  Decision d = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(20));
  EXPECT_EQ(d.status.phase, Phase::kRunning);
  ASSERT_TRUE(d.requeue_after.has_value());
  EXPECT_EQ(*d.requeue_after, seconds(40));

  d = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(60));
  EXPECT_EQ(d.status.phase, Phase::kFailed);
  EXPECT_EQ(d.status.condition("Failed")->reason, "DeadlineExceeded");
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-0", "pod-0-0"}}));
  EXPECT_TRUE(has_event(d, "DeadlineExceeded"));
}

TEST(JobStatus, TtlDeletesTheJobAfterItFinished) {
  Job job = make_job(1);
  job.spec.run_policy.ttl_seconds_after_finished = 100;
  job = started(job);
  job.status = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0).status;
  ASSERT_EQ(job.status.phase, Phase::kSucceeded);

  Decision d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(30));
  EXPECT_FALSE(d.delete_job);
  ASSERT_TRUE(d.requeue_after.has_value());
  EXPECT_EQ(*d.requeue_after, seconds(70));

  d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(100));
  EXPECT_TRUE(d.delete_job);
}

// 10^10 seconds in nanoseconds does not fit a 64-bit system_clock: the sums must saturate
// ("never"), not wrap into the past. The CRD bounds both fields at 2^31-1; a job stored before
// the bound may hold more, up to int64's maximum.
TEST(JobStatus, HugeDeadlinesAndTtlsMeanNeverNotAtOnce) {
  for (const std::int64_t huge :
       {std::int64_t{2147483647}, std::int64_t{10000000000}, std::int64_t{9223372036854775807}}) {
    Job job = make_job(1);
    job.spec.run_policy.active_deadline_seconds = huge;
    job.spec.run_policy.ttl_seconds_after_finished = huge;
    job = started(job);
    Decision d = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(20));
    EXPECT_EQ(d.status.phase, Phase::kRunning) << huge;
    ASSERT_TRUE(d.requeue_after.has_value()) << huge;
    EXPECT_GT(*d.requeue_after, seconds(0)) << huge;
    EXPECT_LE(*d.requeue_after, std::chrono::hours(24)) << huge << ": look again within a day";

    job.status = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(30)).status;
    ASSERT_EQ(job.status.phase, Phase::kSucceeded) << huge;
    d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(40));
    EXPECT_FALSE(d.delete_job) << huge;
    ASSERT_TRUE(d.requeue_after.has_value()) << huge;
    EXPECT_GT(*d.requeue_after, seconds(0)) << huge;
    EXPECT_LE(*d.requeue_after, std::chrono::hours(24)) << huge;
  }
}

TEST(JobStatus, ADeadlineAtTheBoundStillFallsDue) {
  Job job = make_job(1);
  job.spec.run_policy.active_deadline_seconds = 2147483647;
  job = started(job);
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(std::int64_t{2147483647}));
  EXPECT_EQ(d.status.phase, Phase::kFailed);
  EXPECT_EQ(d.status.condition("Failed")->reason, "DeadlineExceeded");
}

TEST(JobStatus, NoTtlKeepsTheJob) {
  Job job = started(make_job(1, RestartPolicy::kNever));
  job.status = decide(job, {pod(0, 0, PodPhase::kFailed, 1)}, kT0).status;
  ASSERT_EQ(job.status.phase, Phase::kFailed);
  const Decision d = decide(job, {}, kT0 + seconds(100000));
  EXPECT_FALSE(d.delete_job);
  EXPECT_FALSE(d.requeue_after.has_value());
}

TEST(JobStatus, SuspendDeletesPodsAndResumeRecreatesThem) {
  Job job = started(make_job(2));
  job.status =
      decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kRunning)}, kT0).status;
  ASSERT_EQ(job.status.phase, Phase::kRunning);

  job.spec.run_policy.suspend = true;
  Decision d = decide(job, {pod(0, 0, PodPhase::kRunning), pod(1, 0, PodPhase::kRunning)},
                      kT0 + seconds(10));
  EXPECT_EQ(d.status.phase, Phase::kSuspended);
  EXPECT_EQ(d.remove.size(), 2U);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.status.condition("Suspended")->status, "True");
  EXPECT_EQ(d.status.condition("Running")->status, "False");
  EXPECT_EQ(d.status.restarts, 0) << "suspension is not a restart";
  EXPECT_TRUE(has_event(d, "Suspended"));
  job.status = d.status;

  d = decide(job, {}, kT0 + seconds(20));
  EXPECT_TRUE(d.create.empty());
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(same_status_ignoring_timestamps(d.status, job.status));

  job.spec.run_policy.suspend = false;
  job.generation = 3;
  d = decide(job, {}, kT0 + seconds(30));
  EXPECT_EQ(d.status.phase, Phase::kPending);
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 0}, {1, 0}}));
  EXPECT_EQ(d.status.condition("Suspended")->status, "False");
  EXPECT_EQ(d.status.condition("Suspended")->reason, "Resumed");
  EXPECT_EQ(d.status.start_time, kube::format_time(kT0 + seconds(30))) << "the deadline restarts";
  EXPECT_EQ(d.status.observed_generation, 3);
  EXPECT_TRUE(has_event(d, "Resumed"));
}

TEST(JobStatus, SuspendedBeforeItStartedCreatesNothing) {
  Job job = make_job(1);
  job.spec.run_policy.suspend = true;
  const Decision d = decide(job, {}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kSuspended);
  EXPECT_TRUE(d.create.empty());
}

TEST(JobStatus, UnschedulableAndImagePullReasons) {
  const Job job = started(make_job(2));
  ObservedPod stuck = pod(1, 0, PodPhase::kPending);
  stuck.unschedulable = true;
  stuck.unschedulable_message = "0/3 nodes are available: 3 Insufficient huawei.com/Ascend910.";
  Decision d = decide(job, {pod(0, 0, PodPhase::kRunning), stuck}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kPending);
  ASSERT_NE(d.status.condition("Running"), nullptr);
  EXPECT_EQ(d.status.condition("Running")->reason, "Unschedulable");
  EXPECT_NE(d.status.condition("Running")->message.find("Insufficient huawei.com/Ascend910"),
            std::string::npos);
  EXPECT_TRUE(has_event(d, "Unschedulable"));

  ObservedPod pulling = pod(1, 0, PodPhase::kPending);
  pulling.image_pull_backoff = true;
  pulling.image_pull_message = "Back-off pulling image";
  d = decide(job, {pod(0, 0, PodPhase::kRunning), pulling}, kT0);
  EXPECT_EQ(d.status.condition("Running")->reason, "ImagePullBackOff");
}

AutoscalerNote note(AutoscalerVerdict verdict, const std::string& source, const std::string& reason,
                    const std::string& message) {
  AutoscalerNote n;
  n.verdict = verdict;
  n.source = source;
  n.reason = reason;
  n.message = message;
  return n;
}

TEST(JobStatus, APodAnAutoscalerIsAddingANodeForWaitsForANewNode) {
  const Job job = started(make_job(2));
  ObservedPod waiting = pod(1, 0, PodPhase::kPending);
  waiting.unschedulable = true;
  waiting.unschedulable_message = "0/0 nodes are available";
  waiting.autoscaler = note(AutoscalerVerdict::kScaleUp, "cluster-autoscaler", "TriggeredScaleUp",
                            "pod triggered scale-up: [{ascend 0->2 (max: 4)}]");
  Decision d = decide(job, {pod(0, 0, PodPhase::kPending), waiting}, kT0);
  EXPECT_EQ(d.status.phase, Phase::kPending);
  const Condition* c = d.status.condition("Running");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, kWaitingForNode);
  EXPECT_EQ(c->message,
            "pod sft-worker-1 is waiting for a new node that the cluster-autoscaler is adding "
            "(TriggeredScaleUp: pod triggered scale-up: [{ascend 0->2 (max: 4)}])");
  ASSERT_TRUE(has_event(d, kWaitingForNode));
  for (const auto& e : d.events) {
    if (e.reason == kWaitingForNode) {
      EXPECT_EQ(e.type, "Normal") << "a node coming is no warning";
    }
  }

  waiting.autoscaler = note(AutoscalerVerdict::kScaleUp, "karpenter", "Nominated",
                            "Pod should schedule on: nodeclaim/ascend-abcde");
  d = decide(job, {pod(0, 0, PodPhase::kPending), waiting}, kT0);
  EXPECT_EQ(d.status.condition("Running")->reason, kWaitingForNode);
  EXPECT_NE(d.status.condition("Running")->message.find("that Karpenter is adding (Nominated: "),
            std::string::npos)
      << d.status.condition("Running")->message;
}

TEST(JobStatus, APodNoAutoscalerWillMakeANodeForSaysWhyInUserWords) {
  Job job = make_job(1);
  job.spec.npus_per_node = 16;
  job = started(job);
  ObservedPod big = pod(0, 0, PodPhase::kPending);
  big.unschedulable = true;
  big.unschedulable_message = "0/0 nodes are available";
  big.autoscaler = note(AutoscalerVerdict::kNoFit, "cluster-autoscaler", "NotTriggerScaleUp",
                        "pod didn't trigger scale-up: 1 Insufficient huawei.com/Ascend910");
  Decision d = decide(job, {big}, kT0);
  const Condition* c = d.status.condition("Running");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, kNoNodeFits);
  EXPECT_EQ(c->message,
            "pod sft-worker-0 fits on no node and the cluster-autoscaler will not add one for it "
            "(NotTriggerScaleUp: pod didn't trigger scale-up: 1 Insufficient "
            "huawei.com/Ascend910); each pod of this job asks for 16 huawei.com/Ascend910 on one "
            "node");
  EXPECT_TRUE(has_event(d, kNoNodeFits));

  // The autoscaler's word only counts while the Pod cannot be scheduled.
  big.unschedulable = false;
  d = decide(job, {big}, kT0);
  EXPECT_EQ(d.status.condition("Running"), nullptr);
}

TEST(JobStatus, AWaitingReasonIsAnnouncedOnceAndTheFirstRankGivesIt) {
  Job job = started(make_job(3));
  ObservedPod pulling = pod(1, 0, PodPhase::kPending);
  pulling.image_pull_backoff = true;
  pulling.image_pull_message = "back-off";
  ObservedPod stuck = pod(2, 0, PodPhase::kPending);
  stuck.unschedulable = true;
  stuck.unschedulable_message = "no nodes";
  const std::vector<ObservedPod> pods = {stuck, pod(0, 0, PodPhase::kRunning), pulling};
  Decision d = decide(job, pods, kT0 + seconds(1));
  EXPECT_EQ(d.status.condition("Running")->reason, "ImagePullBackOff") << "rank 1 before rank 2";
  EXPECT_TRUE(has_event(d, "ImagePullBackOff"));
  job.status = d.status;

  d = decide(job, pods, kT0 + seconds(2));
  EXPECT_TRUE(d.events.empty()) << "the same reason again is no news";
  EXPECT_EQ(d.status, job.status);
}

TEST(RankPods, SortsPodsAgainstTheCurrentAttempts) {
  ObservedPod old_going = pod(0, 0, PodPhase::kFailed);
  old_going.deleting = true;
  ObservedPod current_going = pod(1, 0, PodPhase::kRunning);
  current_going.deleting = true;
  ObservedPod unlabelled = pod(0, 1, PodPhase::kRunning);
  unlabelled.attempt = -1;
  unlabelled.uid = "x";
  const std::vector<ObservedPod> pods = {
      pod(0, 1, PodPhase::kRunning), pod(0, 0, PodPhase::kFailed),  old_going, current_going,
      pod(2, 1, PodPhase::kPending), pod(5, 0, PodPhase::kRunning), unlabelled};
  const RankedPods ranked = rank_pods(3, {1, 0, 0}, pods);
  ASSERT_EQ(ranked.current.size(), 1U);
  EXPECT_EQ(ranked.current.at(0), &pods[0]);
  EXPECT_EQ(ranked.occupied, (std::set<int>{0, 1, 2}))
      << "a rank whose Pod is still going away is not free";
  EXPECT_EQ(ranked.stale,
            (std::vector<PodRef>{
                {"sft-worker-0", "pod-0-0"}, {"sft-worker-5", "pod-5-0"}, {"sft-worker-0", "x"}}))
      << "an older attempt, a rank out of range, no attempt label; none already going away";
  EXPECT_TRUE(ranked.newer_attempt) << "rank 2's attempt 1 is newer than the status knows";

  EXPECT_FALSE(rank_pods(3, {1, 0, 0}, {pod(0, 1, PodPhase::kRunning)}).newer_attempt);
  EXPECT_TRUE(rank_pods(3, {0, 0, 0}, {}).current.empty());
}

TEST(Retryable, ByRestartPolicyAndExitCode) {
  for (const std::optional<int> code :
       {std::optional<int>(1), std::optional<int>(137), std::optional<int>()}) {
    EXPECT_FALSE(retryable(RestartPolicy::kNever, code));
    EXPECT_TRUE(retryable(RestartPolicy::kOnFailure, code));
  }
  for (const int code : {1, 2, 127}) {
    EXPECT_FALSE(retryable(RestartPolicy::kExitCode, code)) << code << ": the program's own exit";
  }
  for (const int code : {128, 137, 143, 255}) {
    EXPECT_TRUE(retryable(RestartPolicy::kExitCode, code)) << code << ": a signal";
  }
  EXPECT_TRUE(retryable(RestartPolicy::kExitCode, std::nullopt)) << "an eviction has no code";
}

TEST(JobStatus, DecisionIsAFixedPoint) {
  Job job = started(make_job(2));
  const std::vector<ObservedPod> pods = {pod(0, 0, PodPhase::kRunning),
                                         pod(1, 0, PodPhase::kRunning)};
  job.status = decide(job, pods, kT0 + seconds(1)).status;
  const Decision d = decide(job, pods, kT0 + seconds(500));
  EXPECT_TRUE(same_status_ignoring_timestamps(d.status, job.status));
  EXPECT_EQ(d.status, job.status) << "no timestamp moves either";
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.create.empty());
  EXPECT_TRUE(d.remove.empty());
}

TEST(JobStatus, TransitionTimeMovesOnlyWithTheConditionStatus) {
  Job job = started(make_job(1));
  job.status = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(1)).status;
  const std::string running_since = job.status.condition("Running")->last_transition_time;
  EXPECT_EQ(running_since, kube::format_time(kT0 + seconds(1)));
  job.status = decide(job, {pod(0, 0, PodPhase::kFailed, 137)}, kT0 + seconds(7)).status;
  EXPECT_EQ(job.status.condition("Running")->status, "False");
  EXPECT_EQ(job.status.condition("Running")->last_transition_time,
            kube::format_time(kT0 + seconds(7)));
  EXPECT_EQ(job.status.condition("Created")->last_transition_time, kube::format_time(kT0));
}

TEST(JobStatus, SameStatusIgnoresOnlyTimestamps) {
  JobStatus a;
  a.phase = Phase::kRunning;
  a.conditions.push_back(
      {"Running", "True", 1, "2024-01-01T00:00:00Z", "AllRanksRunning", "1 of 1"});
  JobStatus b = a;
  b.conditions[0].last_transition_time = "2024-01-02T00:00:00Z";
  EXPECT_TRUE(same_status_ignoring_timestamps(a, b));
  b.conditions[0].status = "False";
  EXPECT_FALSE(same_status_ignoring_timestamps(a, b));
  b = a;
  b.restarts = 1;
  EXPECT_FALSE(same_status_ignoring_timestamps(a, b));
  b = a;
  b.conditions[0].observed_generation = 2;
  EXPECT_FALSE(same_status_ignoring_timestamps(a, b));
}

TEST(ObservePod, ReadsLabelsPhaseAndTermination) {
  const Json object = Json::parse(R"({
    "metadata": {"name": "sft-worker-1", "uid": "u1",
                 "labels": {"ascendfactory.io/node-rank": "1", "ascendfactory.io/attempt": "2"}},
    "status": {"phase": "Failed", "containerStatuses": [
      {"name": "llamafactory", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
  })");
  const ObservedPod p = observe_pod(object);
  EXPECT_EQ(p.name, "sft-worker-1");
  EXPECT_EQ(p.uid, "u1");
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.attempt, 2);
  EXPECT_EQ(p.phase, PodPhase::kFailed);
  EXPECT_EQ(p.exit_code, 137);
  EXPECT_EQ(p.reason, "OOMKilled");
  EXPECT_FALSE(p.deleting);
}

TEST(ObservePod, EvictionHasAReasonButNoExitCode) {
  const Json object = Json::parse(R"({
    "metadata": {"name": "p", "deletionTimestamp": "2024-01-01T00:00:00Z",
                 "labels": {"ascendfactory.io/node-rank": "x1", "ascendfactory.io/attempt": "-1"}},
    "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}
  })");
  const ObservedPod p = observe_pod(object);
  EXPECT_EQ(p.rank, -1);
  EXPECT_EQ(p.attempt, -1);
  EXPECT_FALSE(p.exit_code.has_value());
  EXPECT_EQ(p.reason, "Evicted");
  EXPECT_EQ(p.message, "low on memory");
  EXPECT_TRUE(p.deleting);
}

TEST(ObservePod, PhasesKubernetesDoesNotDefineReadAsUnknown) {
  for (const auto& [text, phase] :
       std::vector<std::pair<std::string, PodPhase>>{{"Pending", PodPhase::kPending},
                                                     {"Running", PodPhase::kRunning},
                                                     {"Succeeded", PodPhase::kSucceeded},
                                                     {"Failed", PodPhase::kFailed},
                                                     {"Unknown", PodPhase::kUnknown},
                                                     {"running", PodPhase::kUnknown}}) {
    EXPECT_EQ(observe_pod(Json{{"status", {{"phase", text}}}}).phase, phase) << text;
  }
}

TEST(ObservePod, PendingReasons) {
  const Json object = Json::parse(R"({
    "metadata": {"name": "p"},
    "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": "no nodes"}],
               "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff",
                                                            "message": "back-off"}}}]}
  })");
  const ObservedPod p = observe_pod(object);
  EXPECT_EQ(p.phase, PodPhase::kPending) << "no phase yet reads as Pending";
  EXPECT_TRUE(p.unschedulable);
  EXPECT_EQ(p.unschedulable_message, "no nodes");
  EXPECT_TRUE(p.image_pull_backoff);
  EXPECT_EQ(p.image_pull_message, "back-off");
}

// Kueue: the queue gate (operator/workload.hpp reads it off the Workload).

QueueGate waiting_gate() {
  QueueGate gate;
  gate.queue = "team-queue";
  gate.workload = "sft-abcd1234";
  gate.reason = "Pending";
  gate.message = "insufficient unused quota for huawei.com/Ascend910 in flavor default";
  return gate;
}

QueueGate admitted_gate() {
  QueueGate gate = waiting_gate();
  gate.admitted = true;
  gate.cluster_queue = "cq";
  gate.reason.clear();
  gate.message.clear();
  return gate;
}

TEST(JobStatus, QueuedJobCreatesNoPodsAndSaysWhereItWaits) {
  const Job job = make_job(2);
  const QueueGate gate = waiting_gate();
  const Decision d = decide(job, {}, kT0, &gate);
  EXPECT_EQ(d.status.phase, Phase::kQueued);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.status.active, 0);
  ASSERT_NE(d.status.condition("Admitted"), nullptr);
  EXPECT_EQ(d.status.condition("Admitted")->status, "False");
  EXPECT_EQ(d.status.condition("Admitted")->reason, "Pending");
  EXPECT_NE(d.status.condition("Admitted")->message.find("LocalQueue team-queue"),
            std::string::npos);
  EXPECT_NE(d.status.condition("Admitted")->message.find("insufficient unused quota"),
            std::string::npos);
  ASSERT_TRUE(d.status.queue.has_value());
  EXPECT_EQ(d.status.queue->name, "team-queue");
  EXPECT_EQ(d.status.queue->workload, "sft-abcd1234");
  EXPECT_TRUE(d.status.start_time.empty()) << "the deadline counts from admission";
  EXPECT_TRUE(has_event(d, "Queued"));
  Job again = job;
  again.status = d.status;
  const Decision d2 = decide(again, {}, kT0 + seconds(5), &gate);
  EXPECT_TRUE(same_status_ignoring_timestamps(d2.status, d.status)) << "nothing new: no write";
  EXPECT_FALSE(has_event(d2, "Queued"));
}

TEST(JobStatus, AdmittedJobCreatesEveryRankAtOnce) {
  Job job = make_job(2);
  const QueueGate waiting = waiting_gate();
  job.status = decide(job, {}, kT0, &waiting).status;
  const QueueGate gate = admitted_gate();
  const Decision d = decide(job, {}, kT0 + seconds(10), &gate);
  EXPECT_EQ(d.status.phase, Phase::kPending);
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 0}, {1, 0}}));
  EXPECT_EQ(d.status.condition("Admitted")->status, "True");
  EXPECT_NE(d.status.condition("Admitted")->message.find("ClusterQueue cq"), std::string::npos);
  EXPECT_EQ(d.status.queue->cluster_queue, "cq");
  EXPECT_EQ(d.status.start_time, kube::format_time(kT0 + seconds(10)));
}

TEST(JobStatus, EvictionDeletesPodsCountsOnceAndSpendsNoRestart) {
  Job job = make_job(2);
  const QueueGate admitted = admitted_gate();
  job.status = decide(job, {}, kT0, &admitted).status;
  const std::vector<ObservedPod> running = {pod(0, 0, PodPhase::kRunning),
                                            pod(1, 0, PodPhase::kRunning)};
  job.status = decide(job, running, kT0 + seconds(1), &admitted).status;
  ASSERT_EQ(job.status.phase, Phase::kRunning);

  QueueGate evicted = waiting_gate();
  evicted.reason = "Evicted";
  evicted.message = "evicted (Preempted): to accommodate a higher priority workload";
  evicted.eviction_time = "2026-01-01T00:05:00Z";
  evicted.eviction_reason = "Preempted";
  evicted.eviction_message = "to accommodate a higher priority workload";
  const Decision d = decide(job, running, kT0 + seconds(2), &evicted);
  EXPECT_EQ(d.status.phase, Phase::kQueued);
  EXPECT_EQ(d.remove.size(), 2U);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.status.evictions, 1);
  EXPECT_EQ(d.status.restarts, 0);
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{0, 0})) << "same attempt on readmission";
  EXPECT_EQ(d.status.queue->last_eviction_time, "2026-01-01T00:05:00Z");
  EXPECT_EQ(d.status.condition("Admitted")->reason, "Evicted");
  EXPECT_EQ(d.status.condition("Running")->status, "False");
  EXPECT_TRUE(has_event(d, "Evicted"));

  // The same eviction seen again (the Pods are still going away) counts nothing more.
  job.status = d.status;
  const Decision d2 = decide(job, running, kT0 + seconds(3), &evicted);
  EXPECT_EQ(d2.status.evictions, 1);
  EXPECT_FALSE(has_event(d2, "Evicted"));

  // Admitted again: the same ranks, the same attempt, no restart.
  const Decision d3 = decide(job, {}, kT0 + seconds(30), &admitted);
  EXPECT_EQ(d3.create, (std::vector<PodSlot>{{0, 0}, {1, 0}}));
  EXPECT_EQ(d3.status.restarts, 0);
  EXPECT_EQ(d3.status.evictions, 1);

  // A second eviction later counts again.
  job.status = d3.status;
  evicted.eviction_time = "2026-01-01T01:00:00Z";
  EXPECT_EQ(decide(job, running, kT0 + seconds(40), &evicted).status.evictions, 2);
}

TEST(JobStatus, SuspendBeatsTheQueueAndResumeQueuesAgain) {
  Job job = make_job(1);
  const QueueGate admitted = admitted_gate();
  job.status = decide(job, {}, kT0, &admitted).status;
  job.spec.run_policy.suspend = true;
  const Decision s = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(1), &admitted);
  EXPECT_EQ(s.status.phase, Phase::kSuspended);
  EXPECT_EQ(s.remove.size(), 1U);
  job.status = s.status;
  job.spec.run_policy.suspend = false;
  const QueueGate waiting = waiting_gate();
  const Decision r = decide(job, {}, kT0 + seconds(2), &waiting);
  EXPECT_EQ(r.status.phase, Phase::kQueued);
  EXPECT_EQ(r.status.condition("Suspended")->status, "False");
  EXPECT_TRUE(r.create.empty());
}

TEST(JobStatus, FinishedQueuedJobStaysFinished) {
  Job job = make_job(1);
  const QueueGate admitted = admitted_gate();
  job.status = decide(job, {}, kT0, &admitted).status;
  job.status =
      decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(1), &admitted).status;
  ASSERT_EQ(job.status.phase, Phase::kSucceeded);
  const QueueGate waiting = waiting_gate();
  const Decision d = decide(job, {pod(0, 0, PodPhase::kSucceeded, 0)}, kT0 + seconds(2), &waiting);
  EXPECT_EQ(d.status.phase, Phase::kSucceeded);
  EXPECT_TRUE(d.remove.empty()) << "finished Pods are kept for their logs";
}

TEST(JobStatus, QueueStatusRoundTrips) {
  JobStatus s;
  s.phase = Phase::kQueued;
  s.evictions = 2;
  s.queue = QueueStatus{"q", "wl", "cq", "2026-01-01T00:00:00Z"};
  const Json json = status_to_json(s);
  EXPECT_EQ(json["phase"], "Queued");
  EXPECT_EQ(json["queue"]["clusterQueue"], "cq");
  EXPECT_EQ(status_from_json(json), s);
}

ObservedPod ready_pod(PodPhase phase, bool ready) {
  ObservedPod p = pod(0, 0, phase);
  p.ready = ready;
  return p;
}

TEST(JobStatus, EndpointsOnlyForServingModesOnceReady) {
  for (const Mode mode : {Mode::kApi, Mode::kWebui, Mode::kWebchat}) {
    Job job = make_job(1);
    job.spec.mode = mode;
    job = started(job);
    const std::string api = mode == Mode::kApi ? "http://sft.team.svc:8000" : "";
    const std::string webui = mode == Mode::kApi ? "" : "http://sft.team.svc:7860";
    Decision d = decide(job, {}, kT0);
    EXPECT_EQ(d.status.api_endpoint + d.status.webui_endpoint, "") << mode_name(mode);
    d = decide(job, {ready_pod(PodPhase::kRunning, false)}, kT0 + seconds(1));
    EXPECT_EQ(d.status.phase, Phase::kRunning);
    EXPECT_EQ(d.status.api_endpoint + d.status.webui_endpoint, "")
        << mode_name(mode) << ": running but not Ready yet (model still loading)";
    d = decide(job, {ready_pod(PodPhase::kRunning, true)}, kT0 + seconds(2));
    EXPECT_EQ(d.status.api_endpoint, api) << mode_name(mode);
    EXPECT_EQ(d.status.webui_endpoint, webui) << mode_name(mode);
    job.status = d.status;
    d = decide(job, {ready_pod(PodPhase::kRunning, false)}, kT0 + seconds(3));
    EXPECT_EQ(d.status.api_endpoint + d.status.webui_endpoint, "")
        << mode_name(mode) << ": withdrawn when the Pod stops being Ready";
    d = decide(job, {ready_pod(PodPhase::kFailed, false)}, kT0 + seconds(4));
    EXPECT_EQ(d.status.phase, Phase::kRestarting);
    EXPECT_EQ(d.status.api_endpoint + d.status.webui_endpoint, "") << mode_name(mode);
  }
}

TEST(JobStatus, NoEndpointsForTrainOrExportEvenWhenReady) {
  for (const Mode mode : {Mode::kTrain, Mode::kExport}) {
    Job job = make_job(1);
    job.spec.mode = mode;
    job = started(job);
    const Decision d = decide(job, {ready_pod(PodPhase::kRunning, true)}, kT0 + seconds(1));
    EXPECT_EQ(d.status.phase, Phase::kRunning);
    EXPECT_EQ(d.status.api_endpoint + d.status.webui_endpoint, "") << mode_name(mode);
  }
}

TEST(JobStatus, ObservePodReadsReady) {
  const Json pod = {{"metadata", {{"name", "p"}}},
                    {"status",
                     {{"phase", "Running"},
                      {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  EXPECT_TRUE(observe_pod(pod).ready);
  Json not_ready = pod;
  not_ready["status"]["conditions"][0]["status"] = "False";
  EXPECT_FALSE(observe_pod(not_ready).ready);
}

TEST(JobStatus, TrainJobWithEmptyDirOutputIsWarnedOnce) {
  Job job = make_job(1);
  Decision d = decide(job, {}, kT0);
  const Condition* c = d.status.condition("OutputPersistent");
  ASSERT_NE(c, nullptr) << "the default output is an emptyDir";
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, "EmptyDirOutput");
  EXPECT_NE(c->message.find("persistentVolumeClaim"), std::string::npos);
  EXPECT_TRUE(has_event(d, "OutputNotPersistent"));
  job.status = d.status;
  d = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(1));
  EXPECT_FALSE(has_event(d, "OutputNotPersistent")) << "said once";
  EXPECT_EQ(d.status.condition("OutputPersistent")->status, "False");

  job = make_job(1);
  job.spec.storage.output = Json{{"emptyDir", Json::object()}};
  EXPECT_NE(decide(job, {}, kT0).status.condition("OutputPersistent"), nullptr);
  for (const Json& persistent : {Json{{"persistentVolumeClaim", {{"claimName", "out"}}}},
                                 Json{{"hostPath", {{"path", "/data/out"}}}}}) {
    job.spec.storage.output = persistent;
    d = decide(job, {}, kT0);
    EXPECT_EQ(d.status.condition("OutputPersistent"), nullptr) << persistent.dump();
    EXPECT_FALSE(has_event(d, "OutputNotPersistent"));
  }
  job = make_job(1);
  job.spec.mode = Mode::kApi;
  EXPECT_EQ(decide(job, {}, kT0).status.condition("OutputPersistent"), nullptr)
      << "only training writes checkpoints";
}

TEST(JobStatus, RunningMessageSaysStepAndLossOnceReported) {
  Job job = started(make_job(1));
  Progress p;
  p.step = 40;
  p.total_steps = 200;
  p.loss = 1.5;
  job.status.progress = p;
  const Decision d = decide(job, {pod(0, 0, PodPhase::kRunning)}, kT0 + seconds(1));
  ASSERT_NE(d.status.condition("Running"), nullptr);
  EXPECT_EQ(d.status.condition("Running")->message,
            "1 of 1 rank(s) running; step 40/200, loss 1.5");
  EXPECT_EQ(d.status.progress, p) << "decide keeps the progress it was given";
}

// --- chip faults: the device plugin's annotation restarts the job without spending maxRestarts

ObservedPod faulted(ObservedPod p, const std::string& chip = "Ascend910-3") {
  p.fault = PodFault{{chip}, "node-a", "device node /dev/davinci3 missing", "2026-11-29T16:00:00Z"};
  return p;
}

TEST(ChipFault, JobScopeRestartsEveryRankAndCountsAFaultNotARestart) {
  Job job = started(make_job(2, RestartPolicy::kNever, RestartScope::kJob, 0));
  const Decision d =
      decide(job, {pod(0, 0, PodPhase::kRunning), faulted(pod(1, 0, PodPhase::kRunning))},
             kT0 + seconds(1));
  EXPECT_EQ(d.status.restarts, 0) << "maxRestarts 0 and restartPolicy Never do not stop it";
  EXPECT_EQ(d.status.faults, 1);
  EXPECT_EQ(d.status.phase, Phase::kRestarting);
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{1, 1}));
  EXPECT_EQ(d.remove,
            (std::vector<PodRef>{{"sft-worker-0", "pod-0-0"}, {"sft-worker-1", "pod-1-0"}}));
  ASSERT_TRUE(d.status.last_fault);
  EXPECT_EQ(d.status.last_fault->pod, "sft-worker-1");
  EXPECT_EQ(d.status.last_fault->node, "node-a");
  EXPECT_EQ(d.status.last_fault->chips, (std::vector<std::string>{"Ascend910-3"}));
  EXPECT_EQ(d.status.last_fault->time, "2026-11-29T16:00:00Z");
  EXPECT_NE(d.status.last_fault->message.find("Ascend910-3"), std::string::npos);
  EXPECT_TRUE(has_event(d, "ChipFault"));
  EXPECT_FALSE(has_event(d, "Restarting"));
  EXPECT_EQ(d.status.condition("Running")->reason, "ChipFault");
  EXPECT_EQ(d.status.condition("Restarting")->reason, "ChipFault");
  EXPECT_FALSE(d.status.last_failure);
}

TEST(ChipFault, PodScopeRestartsOnlyTheFaultedRank) {
  Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kPod));
  const Decision d =
      decide(job, {faulted(pod(0, 0, PodPhase::kRunning)), pod(1, 0, PodPhase::kRunning)},
             kT0 + seconds(1));
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{1, 0}));
  EXPECT_EQ(d.remove, (std::vector<PodRef>{{"sft-worker-0", "pod-0-0"}}));
  EXPECT_EQ(d.status.faults, 1);
  EXPECT_EQ(d.status.restarts, 0);
}

TEST(ChipFault, AFailedPodWithTheAnnotationIsAFaultNotAFailure) {
  Job job = started(make_job(1, RestartPolicy::kExitCode, RestartScope::kJob, 0));
  const Decision d = decide(job, {faulted(pod(0, 0, PodPhase::kFailed, 1))}, kT0 + seconds(1));
  EXPECT_NE(d.status.phase, Phase::kFailed) << "exit 1 after the chip died is the chip's fault";
  EXPECT_EQ(d.status.faults, 1);
  EXPECT_EQ(d.status.restarts, 0);
  EXPECT_EQ(d.status.rank_attempts, (std::vector<int>{1}));
}

TEST(ChipFault, CountedOnceThenTheReplacementRunsAndSucceeds) {
  Job job = started(make_job(2, RestartPolicy::kOnFailure, RestartScope::kJob, 1));
  ObservedPod bad = faulted(pod(1, 0, PodPhase::kRunning));
  Decision d = decide(job, {pod(0, 0, PodPhase::kRunning), bad}, kT0 + seconds(1));
  ASSERT_EQ(d.status.faults, 1);
  job.status = d.status;

  // The cache still holds the faulted Pod (stale now): it is deleted again, not counted again.
  d = decide(job, {pod(0, 0, PodPhase::kRunning), bad}, kT0 + seconds(2));
  EXPECT_EQ(d.status.faults, 1);
  EXPECT_TRUE(d.create.empty()) << "rank names are taken until the old Pods are gone";
  job.status = d.status;

  d = decide(job, {}, kT0 + seconds(3));
  EXPECT_EQ(d.create, (std::vector<PodSlot>{{0, 1}, {1, 1}}));
  job.status = d.status;

  d = decide(job, {pod(0, 1, PodPhase::kRunning), pod(1, 1, PodPhase::kRunning)}, kT0 + seconds(4));
  EXPECT_EQ(d.status.phase, Phase::kRunning);
  EXPECT_EQ(d.status.condition("Restarting")->status, "False");
  EXPECT_NE(d.status.condition("Running")->message.find(
                "recovered from 1 chip fault(s), the last Ascend910-3 on node node-a"),
            std::string::npos)
      << d.status.condition("Running")->message;
  job.status = d.status;

  d = decide(job, {pod(0, 1, PodPhase::kSucceeded, 0), pod(1, 1, PodPhase::kSucceeded, 0)},
             kT0 + seconds(5));
  EXPECT_EQ(d.status.phase, Phase::kSucceeded);
  EXPECT_EQ(d.status.restarts, 0);
  EXPECT_EQ(d.status.faults, 1);
  ASSERT_TRUE(d.status.last_fault);
  EXPECT_EQ(d.status.last_fault->chips, (std::vector<std::string>{"Ascend910-3"}));
}

TEST(ChipFault, ASucceededPodOrAFinishedJobIgnoresTheAnnotation) {
  Job job = started(make_job(2));
  Decision d =
      decide(job, {faulted(pod(0, 0, PodPhase::kSucceeded, 0)), pod(1, 0, PodPhase::kRunning)},
             kT0 + seconds(1));
  EXPECT_EQ(d.status.faults, 0) << "the rank's work is done; its chip no longer matters";
  EXPECT_TRUE(d.remove.empty());
  job.status = d.status;
  job.status.phase = Phase::kSucceeded;
  d = decide(
      job,
      {faulted(pod(0, 0, PodPhase::kSucceeded, 0)), faulted(pod(1, 0, PodPhase::kSucceeded, 0))},
      kT0 + seconds(2));
  EXPECT_EQ(d.status.faults, 0);
}

TEST(ChipFault, StatusRoundTripsAndTimestampsAreIgnoredInComparisons) {
  JobStatus s;
  s.faults = 2;
  s.last_fault = LastFault{"p", "n", {"Ascend910-1", "Ascend910-2"}, "t", "m"};
  const Json j = status_to_json(s);
  EXPECT_EQ(j["faults"], 2);
  EXPECT_EQ(j["lastFault"]["chips"], Json({"Ascend910-1", "Ascend910-2"}));
  EXPECT_EQ(status_from_json(j), s);
  JobStatus later = s;
  later.last_fault->time = "t2";
  EXPECT_TRUE(same_status_ignoring_timestamps(s, later));
  EXPECT_FALSE(status_to_json(JobStatus{}).contains("faults"));
}

TEST(ObservePod, ReadsTheChipFaultAnnotationAndIgnoresMalformedValues) {
  Json p = {{"metadata",
             {{"name", "sft-worker-0"},
              {"annotations",
               {{"ascendfactory.io/npu-fault",
                 R"({"chips":["Ascend910-5"],"node":"n1","reason":"gone","time":"t"})"}}}}},
            {"status", {{"phase", "Running"}}}};
  const ObservedPod o = observe_pod(p);
  ASSERT_TRUE(o.fault);
  EXPECT_EQ(o.fault->chips, (std::vector<std::string>{"Ascend910-5"}));
  EXPECT_EQ(o.fault->node, "n1");
  EXPECT_EQ(o.fault->reason, "gone");
  for (const char* bad : {"", "yes", "{}", R"({"chips":[]})", R"({"chips":[3]})", "[1]", "{"}) {
    p["metadata"]["annotations"]["ascendfactory.io/npu-fault"] = bad;
    EXPECT_FALSE(observe_pod(p).fault) << bad;
  }
}

}  // namespace
}  // namespace ascend::op
