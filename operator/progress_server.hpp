// The status server: where rank 0 of a training job posts its progress (Kubeflow Trainer
// v2.2's design). HTTPS; the Pod proves who it is with its projected ServiceAccount token for
// one audience, checked by a TokenReview; the Pod named in the token must be rank 0 of a job
// this operator runs, and the report lands on that job only. The Pods need no API rights.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kube/clock.hpp"
#include "kube/https_server.hpp"
#include "kube/token_review.hpp"
#include "operator/progress.hpp"

namespace ascend::op {

/// The path reports are posted to.
inline constexpr const char* kProgressPath = "/v1/progress";
/// The audience of the projected token the operator asks Pods to post with.
inline constexpr const char* kProgressAudience = "ascendfactory.io/progress";

/// The request handling of the status server, without sockets (unit tested with fakes).
///
/// Answers: 202 accepted (the report is stored for its job); 400 a body that is not a report
/// (the field named); 401 no bearer token, or one the API server does not accept for
/// kProgressAudience as a Pod-bound token; 403 a valid token of a Pod that is not rank 0 of a
/// job this operator runs (unknown, another uid, no job label, another rank); 404 / 405 other
/// paths and methods; 503 this replica does not lead (the reporter tries another address) or
/// the TokenReview could not be made.
class ProgressHandler final {
 public:
  /// A Pod from the operator's Pod cache, or std::nullopt.
  using PodLookup =
      std::function<std::optional<Json>(const std::string& ns, const std::string& name)>;
  /// Receives an accepted report for the job `namespace/name`.
  using Accept = std::function<void(const std::string& job_key, Progress progress)>;

  ProgressHandler(kube::TokenReviewerPtr reviewer, PodLookup pods, std::function<bool()> leading,
                  Accept accept, kube::ClockPtr clock = kube::system_clock());
  kube::HttpsResponse handle(const kube::HttpsRequest& request) const;

 private:
  kube::TokenReviewerPtr reviewer_;
  PodLookup pods_;
  std::function<bool()> leading_;
  Accept accept_;
  kube::ClockPtr clock_;
};

}  // namespace ascend::op
