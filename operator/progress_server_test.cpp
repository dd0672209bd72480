#include "operator/progress_server.hpp"

#include <gtest/gtest.h>

#include <map>

namespace ascend::op {
namespace {

class FakeReviewer final : public kube::TokenReviewer {
 public:
  kube::Result<kube::TokenIdentity> review(const std::string& token) override {
    const auto it = tokens.find(token);
    if (it == tokens.end()) return kube::Error{401, "Unauthorized", "the token is not valid"};
    return it->second;
  }
  std::map<std::string, kube::TokenIdentity> tokens;
};

Json pod(const std::string& name, const std::string& uid, const std::string& rank,
         const std::string& job = "sft") {
  Json labels = {{labels::kManagedBy, labels::kManagedByValue}, {labels::kNodeRank, rank}};
  if (!job.empty()) labels[labels::kJobName] = job;
  return {{"metadata", {{"name", name}, {"namespace", "team"}, {"uid", uid}, {"labels", labels}}}};
}

class ProgressHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reviewer_->tokens["rank0"] = {"team", "default", "sft-worker-0", "uid-0"};
    reviewer_->tokens["rank1"] = {"team", "default", "sft-worker-1", "uid-1"};
    reviewer_->tokens["stale"] = {"team", "default", "sft-worker-0", "uid-old"};
    reviewer_->tokens["other-ns"] = {"other", "default", "sft-worker-0", "uid-0"};
    reviewer_->tokens["stranger"] = {"team", "default", "web", "uid-web"};
    pods_["team/sft-worker-0"] = pod("sft-worker-0", "uid-0", "0");
    pods_["team/sft-worker-1"] = pod("sft-worker-1", "uid-1", "1");
    pods_["team/web"] = pod("web", "uid-web", "0", "");
  }
  kube::HttpsResponse post(const std::string& token, const std::string& body,
                           const std::string& path = kProgressPath) {
    ProgressHandler handler(
        reviewer_,
        [this](const std::string& ns, const std::string& name) -> std::optional<Json> {
          const auto it = pods_.find(ns + "/" + name);
          if (it == pods_.end()) return std::nullopt;
          return it->second;
        },
        [this] { return leading_; },
        [this](const std::string& key, Progress p) { accepted_.emplace_back(key, p); });
    kube::HttpsRequest r;
    r.method = "POST";
    r.path = path;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    r.body = body;
    return handler.handle(r);
  }
  std::shared_ptr<FakeReviewer> reviewer_ = std::make_shared<FakeReviewer>();
  std::map<std::string, Json> pods_;
  bool leading_ = true;
  std::vector<std::pair<std::string, Progress>> accepted_;
};

const char* kReport =
    R"({"current_steps": 4, "total_steps": 10, "loss": 2.0, "resumed_from_step": 2})";

TEST_F(ProgressHandlerTest, RankZeroReportsForItsOwnJob) {
  const auto r = post("rank0", kReport);
  EXPECT_EQ(r.status, 202) << r.body;
  ASSERT_EQ(accepted_.size(), 1U);
  EXPECT_EQ(accepted_[0].first, "team/sft");
  EXPECT_EQ(accepted_[0].second.step, 4);
  EXPECT_EQ(accepted_[0].second.resumed_from_step, 2);
  EXPECT_FALSE(accepted_[0].second.updated_at.empty());
}

TEST_F(ProgressHandlerTest, EveryoneElseIsRefused) {
  EXPECT_EQ(post("", kReport).status, 401);
  EXPECT_EQ(post("forged", kReport).status, 401);
  EXPECT_EQ(post("rank1", kReport).status, 403) << "only rank 0 reports";
  EXPECT_EQ(post("stale", kReport).status, 403) << "a token of a Pod since replaced";
  EXPECT_EQ(post("other-ns", kReport).status, 403) << "the namespace comes from the token";
  EXPECT_EQ(post("stranger", kReport).status, 403) << "not a job's Pod";
  pods_["team/sft-worker-0"]["metadata"]["labels"].erase(labels::kManagedBy);
  EXPECT_EQ(post("rank0", kReport).status, 403) << "a Pod someone else labelled";
  EXPECT_TRUE(accepted_.empty());
}

TEST_F(ProgressHandlerTest, BadBodiesPathsAndFollowers) {
  auto r = post("rank0", "not json");
  EXPECT_EQ(r.status, 400);
  r = post("rank0", R"({"current_steps": -1, "total_steps": 2})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("current_steps"), std::string::npos) << r.body;
  EXPECT_EQ(post("rank0", kReport, "/other").status, 404);
  leading_ = false;
  EXPECT_EQ(post("rank0", kReport).status, 503);
  EXPECT_TRUE(accepted_.empty());
}

}  // namespace
}  // namespace ascend::op
