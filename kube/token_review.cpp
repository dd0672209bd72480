#include "kube/token_review.hpp"

#include <openssl/sha.h>

namespace ascend::kube {

namespace {

constexpr const char* kPodNameExtra = "authentication.kubernetes.io/pod-name";
constexpr const char* kPodUidExtra = "authentication.kubernetes.io/pod-uid";
constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

Error unauthorized(const std::string& why) {
  return Error{401, "Unauthorized", why};
}

// The first value of a user.extra entry (extra values are lists of strings).
std::string extra_value(const nlohmann::json& user, const char* key) {
  if (!user.is_object() || !user.contains("extra")) return "";
  const nlohmann::json& extra = user.at("extra");
  if (!extra.is_object() || !extra.contains(key)) return "";
  const nlohmann::json& values = extra.at(key);
  if (!values.is_array() || values.empty() || !values.at(0).is_string()) return "";
  return values.at(0).get<std::string>();
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{2} * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace

Result<TokenIdentity> identity_from_review(const nlohmann::json& review,
                                           const std::string& audience) {
  const nlohmann::json& status = review.contains("status") ? review.at("status") : review;
  if (!status.is_object() || !status.value("authenticated", false)) {
    std::string why = "the token is not valid";
    if (status.is_object() && status.contains("error") && status["error"].is_string()) {
      why += ": " + status["error"].get<std::string>();
    }
    return unauthorized(why);
  }
  bool audience_ok = false;
  if (status.contains("audiences") && status.at("audiences").is_array()) {
    const nlohmann::json& audiences = status.at("audiences");
    for (std::size_t i = 0; i < audiences.size(); ++i) {
      const nlohmann::json& a = audiences.at(i);
      audience_ok = audience_ok || (a.is_string() && a.get<std::string>() == audience);
    }
  }
  if (!audience_ok) return unauthorized("the token is not for audience " + audience);
  const nlohmann::json& user = status.contains("user") ? status.at("user") : nlohmann::json();
  const std::string username = user.is_object() ? user.value("username", "") : "";
  if (!username.starts_with(kServiceAccountPrefix)) {
    return unauthorized("not a ServiceAccount token (user " + username + ")");
  }
  const std::string rest = username.substr(kServiceAccountPrefix.size());
  const auto colon = rest.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    return unauthorized("malformed ServiceAccount user " + username);
  }
  TokenIdentity id;
  id.ns = rest.substr(0, colon);
  id.service_account = rest.substr(colon + 1);
  id.pod_name = extra_value(user, kPodNameExtra);
  id.pod_uid = extra_value(user, kPodUidExtra);
  if (id.pod_name.empty() || id.pod_uid.empty()) {
    return unauthorized("the token is not bound to a Pod (a projected token is needed)");
  }
  return id;
}

Result<TokenIdentity> ApiTokenReviewer::review(const std::string& token) {
  static const Resource kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview",
                                      false};
  const nlohmann::json request = {{"apiVersion", "authentication.k8s.io/v1"},
                                  {"kind", "TokenReview"},
                                  {"spec", {{"token", token}, {"audiences", {audience_}}}}};
  auto answer = client_->create(kTokenReviews, request);
  if (!answer) return answer.error();
  return identity_from_review(answer.value(), audience_);
}

CachingTokenReviewer::CachingTokenReviewer(TokenReviewerPtr inner, std::chrono::seconds ttl,
                                           std::size_t max_entries, ClockPtr clock)
    : inner_(std::move(inner)), ttl_(ttl), max_entries_(max_entries), clock_(std::move(clock)) {}

Result<TokenIdentity> CachingTokenReviewer::review(const std::string& token) {
  const std::string key = sha256_hex(token);
  {
    const std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it != entries_.end() && it->second.expires > clock_->now()) return it->second.identity;
  }
  auto result = inner_->review(token);  // no lock held across the API call
  if (!result) return result;
  const std::lock_guard lock(mutex_);
  const SteadyTime now = clock_->now();
  if (entries_.size() >= max_entries_) {
    std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; });
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_[key] = Entry{result.value(), now + ttl_};
  return result;
}

}  // namespace ascend::kube
