#include "operator/progress_server.hpp"

#include "kube/logging.hpp"
#include "kube/object_meta.hpp"

namespace ascend::op {

namespace {

kube::HttpsResponse answer(int status, const std::string& message) {
  return kube::HttpsResponse{status, Json{{"message", message}}.dump(), "application/json"};
}

std::string label(const Json& pod, const char* key) {
  if (!pod.contains("metadata") || !pod["metadata"].contains("labels")) return "";
  const Json& labels = pod["metadata"]["labels"];
  if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return "";
  return labels[key].get<std::string>();
}

}  // namespace

ProgressHandler::ProgressHandler(kube::TokenReviewerPtr reviewer, PodLookup pods,
                                 std::function<bool()> leading, Accept accept, kube::ClockPtr clock)
    : reviewer_(std::move(reviewer)),
      pods_(std::move(pods)),
      leading_(std::move(leading)),
      accept_(std::move(accept)),
      clock_(std::move(clock)) {}

kube::HttpsResponse ProgressHandler::handle(const kube::HttpsRequest& request) const {
  if (request.path != kProgressPath) return answer(404, "only " + std::string(kProgressPath));
  if (request.method != "POST") return answer(405, "POST a report");
  // Only the replica that reconciles writes status; the reporter tries the next address.
  if (!leading_()) return answer(503, "this replica does not lead; try another");
  const std::string auth = request.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth.starts_with(kBearer) || auth.size() == kBearer.size()) {
    return answer(401, "an Authorization: Bearer token is required");
  }
  const auto id = reviewer_->review(auth.substr(kBearer.size()));
  if (!id) {
    if (id.error().code == 401) return answer(401, id.error().message);
    kube::log::warn("token review failed", {kube::log::kv("error", id.error().to_string())});
    return answer(503, "cannot review the token now");
  }
  const kube::TokenIdentity& who = id.value();
  const auto pod = pods_(who.ns, who.pod_name);
  const std::string pod_key = who.ns + "/" + who.pod_name;
  if (!pod) return answer(403, "pod " + pod_key + " is not a pod of a LlamaFactoryJob");
  const std::string uid = pod->contains("metadata") ? (*pod)["metadata"].value("uid", "") : "";
  if (uid != who.pod_uid) return answer(403, "pod " + pod_key + " was replaced");
  const std::string job = label(*pod, labels::kJobName);
  if (job.empty() || label(*pod, labels::kManagedBy) != labels::kManagedByValue) {
    return answer(403, "pod " + pod_key + " is not a pod of a LlamaFactoryJob");
  }
  if (label(*pod, labels::kNodeRank) != "0") {
    return answer(403, "only rank 0 reports progress (pod " + pod_key + " is rank " +
                           label(*pod, labels::kNodeRank) + ")");
  }
  const Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return answer(400, "the body is not JSON");
  auto progress = parse_progress_report(body, kube::format_time(clock_->wall_now()));
  if (!progress) return answer(400, progress.error().message);
  accept_(who.ns + "/" + job, std::move(progress).value());
  return answer(202, "accepted");
}

}  // namespace ascend::op
