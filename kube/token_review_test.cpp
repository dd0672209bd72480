#include "kube/token_review.hpp"

#include <gtest/gtest.h>

namespace ascend::kube {
namespace {

using Json = nlohmann::json;

// A TokenReview as kube-apiserver 1.34 answers for a Pod-bound projected token.
Json answered(bool authenticated = true, const std::string& audience = "lfjob-progress") {
  return Json::parse(R"({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
    "status": {"authenticated": )" +
                     std::string(authenticated ? "true" : "false") + R"(,
      "audiences": [")" +
                     audience +
                     R"("],
      "user": {"username": "system:serviceaccount:team:default",
               "uid": "sa-uid", "groups": ["system:serviceaccounts"],
               "extra": {"authentication.kubernetes.io/pod-name": ["sft-worker-0"],
                         "authentication.kubernetes.io/pod-uid": ["pod-uid-1"],
                         "authentication.kubernetes.io/credential-id": ["JTI=x"]}}}})");
}

TEST(TokenReview, ReadsThePodIdentity) {
  auto id = identity_from_review(answered(), "lfjob-progress");
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_EQ(id.value(), (TokenIdentity{"team", "default", "sft-worker-0", "pod-uid-1"}));
}

TEST(TokenReview, RefusesWhatIsNotAPodTokenForTheAudience) {
  auto r = identity_from_review(answered(false), "lfjob-progress");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 401);
  r = identity_from_review(answered(true, "https://kubernetes.default.svc"), "lfjob-progress");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("audience lfjob-progress"), std::string::npos);
  Json user = answered();
  user["status"]["user"]["username"] = "alice";
  r = identity_from_review(user, "lfjob-progress");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a ServiceAccount token"), std::string::npos);
  Json unbound = answered();
  unbound["status"]["user"]["extra"].erase("authentication.kubernetes.io/pod-uid");
  r = identity_from_review(unbound, "lfjob-progress");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not bound to a Pod"), std::string::npos);
  Json malformed = answered();
  malformed["status"]["user"]["username"] = "system:serviceaccount:team";
  EXPECT_FALSE(identity_from_review(malformed, "lfjob-progress"));
  EXPECT_FALSE(identity_from_review(Json::array(), "lfjob-progress"));
}

class CountingReviewer final : public TokenReviewer {
 public:
  Result<TokenIdentity> review(const std::string& token) override {
    ++calls;
    if (token == "bad") return Error{401, "Unauthorized", "no"};
    return TokenIdentity{"ns", "sa", token, "uid-" + token};
  }
  int calls = 0;
};

TEST(TokenReview, CachesPositiveAnswersForTheirTtl) {
  auto inner = std::make_shared<CountingReviewer>();
  auto clock = std::make_shared<FakeClock>();
  CachingTokenReviewer cache(inner, std::chrono::seconds(60), 2, clock);
  EXPECT_EQ(cache.review("a").value().pod_name, "a");
  EXPECT_EQ(cache.review("a").value().pod_name, "a");
  EXPECT_EQ(inner->calls, 1);
  EXPECT_FALSE(cache.review("bad"));
  EXPECT_FALSE(cache.review("bad"));
  EXPECT_EQ(inner->calls, 3) << "refusals are asked again";
  clock->advance(std::chrono::seconds(61));
  EXPECT_TRUE(cache.review("a"));
  EXPECT_EQ(inner->calls, 4) << "expired";
  // Bounded: a third token makes room.
  EXPECT_TRUE(cache.review("b"));
  EXPECT_TRUE(cache.review("c"));
  EXPECT_EQ(inner->calls, 6);
  EXPECT_EQ(cache.review("c").value().pod_uid, "uid-c");
  EXPECT_EQ(inner->calls, 6);
}

}  // namespace
}  // namespace ascend::kube
