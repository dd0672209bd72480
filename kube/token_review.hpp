// Who sent a request, from a bearer token, asked of the API server (TokenReview,
// authentication.k8s.io/v1), as Kubeflow Trainer's status server and every webhook do. The
// token is a Pod's projected ServiceAccount token for one audience; the API server says
// whether it is valid, for that audience, and for which Pod (the `extra` values
// authentication.kubernetes.io/pod-name and pod-uid of a Pod-bound token).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/error.hpp"

namespace ascend::kube {

/// The identity a Pod-bound ServiceAccount token proves.
struct TokenIdentity {
  std::string ns;               ///< The ServiceAccount's (and so the Pod's) namespace.
  std::string service_account;  ///< Its name.
  std::string pod_name;
  std::string pod_uid;
  bool operator==(const TokenIdentity&) const = default;
};

/// The seam: the real one asks the API server, tests use fakes.
class TokenReviewer {
 public:
  virtual ~TokenReviewer() = default;
  /// Errors: code 401 reason `Unauthorized` when the token is not a valid Pod-bound
  /// ServiceAccount token for the audience; anything else (no answer, 403 when the caller may
  /// not create TokenReviews) as the client returned it.
  virtual Result<TokenIdentity> review(const std::string& token) = 0;
};
using TokenReviewerPtr = std::shared_ptr<TokenReviewer>;

/// Reads a TokenReview the API server answered. Unauthorized unless status.authenticated is
/// true, status.audiences holds `audience`, the user is `system:serviceaccount:<ns>:<name>`
/// and extra names the Pod (name and uid).
Result<TokenIdentity> identity_from_review(const nlohmann::json& review,
                                           const std::string& audience);

/// POSTs a TokenReview with `spec.audiences: [audience]` (so a token minted for the API server
/// or for another audience is refused). Needs RBAC `create` on tokenreviews.
class ApiTokenReviewer final : public TokenReviewer {
 public:
  ApiTokenReviewer(ClientPtr client, std::string audience)
      : client_(std::move(client)), audience_(std::move(audience)) {}
  Result<TokenIdentity> review(const std::string& token) override;

 private:
  ClientPtr client_;
  std::string audience_;
};

/// Remembers positive answers for `ttl` (keyed by a SHA-256 of the token, never the token
/// itself), so a Pod posting every few seconds costs one TokenReview per `ttl`. At most
/// `max_entries` are kept (expired ones are dropped first, then all). Refusals are not cached:
/// a token that was not valid yet is asked about again.
class CachingTokenReviewer final : public TokenReviewer {
 public:
  CachingTokenReviewer(TokenReviewerPtr inner, std::chrono::seconds ttl, std::size_t max_entries,
                       ClockPtr clock = system_clock());
  Result<TokenIdentity> review(const std::string& token) override;

 private:
  struct Entry {
    TokenIdentity identity;
    SteadyTime expires;
  };
  TokenReviewerPtr inner_;
  std::chrono::seconds ttl_;
  std::size_t max_entries_;
  ClockPtr clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_
};

}  // namespace ascend::kube
