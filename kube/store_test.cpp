#include "kube/store.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ascend::kube {
namespace {

nlohmann::json obj(const std::string& ns, const std::string& name, const std::string& rv,
                   nlohmann::json labels = nlohmann::json::object()) {
  return {{"metadata",
           {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}, {"labels", labels}}}};
}

std::string describe(const ObjectPtr& o) {
  return o ? (*o)["metadata"]["name"].get<std::string>() + "@" +
                 (*o)["metadata"]["resourceVersion"].get<std::string>()
           : "-";
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.add_handler([this](const ObjectPtr& o, const ObjectPtr& n) {
      seen_.push_back(describe(o) + ">" + describe(n));
    });
  }
  Store store_;
  std::vector<std::string> seen_;
};

TEST_F(StoreTest, ReplaceDiffsAgainstTheCache) {
  EXPECT_FALSE(store_.synced());
  store_.replace({obj("a", "x", "1"), obj("a", "y", "1")});
  EXPECT_TRUE(store_.synced());
  seen_.clear();
  store_.replace({obj("a", "x", "1"), obj("a", "z", "3"), obj("b", "y", "2")});
  // x unchanged: no call; y vanished from ns a; z and b/y are new.
  std::sort(seen_.begin(), seen_.end());
  EXPECT_EQ(seen_, (std::vector<std::string>{"->y@2", "->z@3", "y@1>-"}));
  EXPECT_EQ(store_.size(), 3U);
  EXPECT_NE(store_.get("b/y"), nullptr);
  EXPECT_EQ(store_.get("a/y"), nullptr);
}

TEST_F(StoreTest, ApplyAndRemove) {
  store_.apply(obj("a", "x", "1"));
  store_.apply(obj("a", "x", "2"));
  store_.remove(obj("a", "x", "3"));
  store_.remove(obj("a", "ghost", "4"));
  EXPECT_EQ(seen_, (std::vector<std::string>{"->x@1", "x@1>x@2", "x@3>-"}));
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(StoreTest, ListsByNamespaceAndLabels) {
  store_.replace({obj("a", "x", "1", {{"app", "w"}, {"rank", "0"}}),
                  obj("a", "y", "1", {{"app", "w"}, {"rank", "1"}}),
                  obj("b", "z", "1", {{"app", "w"}})});
  EXPECT_EQ(store_.list().size(), 3U);
  EXPECT_EQ(store_.list("a").size(), 2U);
  EXPECT_EQ(store_.list_matching({{"app", "w"}}).size(), 3U);
  EXPECT_EQ(store_.list_matching({{"app", "w"}}, "b").size(), 1U);
  auto r1 = store_.list_matching({{"rank", "1"}});
  ASSERT_EQ(r1.size(), 1U);
  EXPECT_EQ((*r1[0])["metadata"]["name"], "y");
  EXPECT_TRUE(store_.list_matching({{"app", "other"}}).empty());
}

TEST_F(StoreTest, ReadersKeepTheirSnapshot) {
  store_.apply(obj("a", "x", "1"));
  ObjectPtr held = store_.get("a/x");
  store_.apply(obj("a", "x", "2"));
  EXPECT_EQ((*held)["metadata"]["resourceVersion"], "1");
  EXPECT_EQ((*store_.get("a/x"))["metadata"]["resourceVersion"], "2");
}

}  // namespace
}  // namespace ascend::kube
