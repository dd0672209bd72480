#include "kube/store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
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

std::vector<std::string> names(std::vector<ObjectPtr> objects) {
  std::vector<std::string> out;
  for (const auto& o : objects)
    out.push_back((*o)["metadata"]["name"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(StoreTest, AnIndexedLabelFindsTheSameObjectsAsAScan) {
  Store indexed;
  Store scanned;
  indexed.index_label("job");
  const auto both = [&](const auto& change) {
    change(indexed);
    change(scanned);
  };
  both([](Store& s) {
    s.replace({obj("a", "p0", "1", {{"job", "x"}}), obj("a", "p1", "1", {{"job", "y"}}),
               obj("b", "p2", "1", {{"job", "x"}}), obj("a", "p3", "1")});
  });
  both([](Store& s) { s.apply(obj("a", "p4", "2", {{"job", "x"}, {"rank", "1"}})); });
  both([](Store& s) { s.apply(obj("a", "p1", "3", {{"job", "x"}})); });  // relabelled y -> x
  both([](Store& s) { s.apply(obj("a", "p0", "4", {{"job", "z"}})); });  // x -> z
  both([](Store& s) { s.remove(obj("a", "p4", "5")); });
  both([](Store& s) { s.apply(obj("a", "p5", "6", {{"job", "x"}, {"rank", "2"}})); });
  for (const auto& [labels, ns] :
       std::vector<std::pair<std::unordered_map<std::string, std::string>, std::string>>{
           {{{"job", "x"}}, "a"},
           {{{"job", "y"}}, "a"},
           {{{"job", "z"}}, "a"},
           {{{"job", "x"}}, "b"},
           {{{"job", "x"}, {"rank", "2"}}, "a"},
           {{{"job", "x"}}, ""},
           {{{"job", "nothing"}}, "a"}}) {
    EXPECT_EQ(names(indexed.list_matching(labels, ns)), names(scanned.list_matching(labels, ns)))
        << ns;
  }
  EXPECT_EQ(names(indexed.list_matching({{"job", "x"}}, "a")),
            (std::vector<std::string>{"p1", "p5"}));
  // A relist replaces the index too.
  indexed.replace({obj("a", "q0", "9", {{"job", "x"}})});
  EXPECT_EQ(names(indexed.list_matching({{"job", "x"}}, "a")), (std::vector<std::string>{"q0"}));
  // Indexing a filled store indexes what it holds.
  Store late;
  late.replace({obj("a", "r0", "1", {{"job", "x"}})});
  late.index_label("job");
  EXPECT_EQ(names(late.list_matching({{"job", "x"}}, "a")), (std::vector<std::string>{"r0"}));
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
