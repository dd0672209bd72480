#include "plugin/comma_list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ascend::plugin {
namespace {

TEST(CommaList, JoinsStringsAndNumbers) {
  EXPECT_EQ(join(std::vector<std::string>{"a", "b", "c"}), "a,b,c");
  EXPECT_EQ(join(std::vector<int>{0, 1, 15}), "0,1,15");
  EXPECT_EQ(join(std::vector<int>{}), "");
  EXPECT_EQ(join(std::vector<std::string>{"x"}), "x");
  EXPECT_EQ(join(std::vector<std::string>{"a", "b"}, " "), "a b");
  EXPECT_EQ(join(
                std::vector<int>{1, 2}, [](int i) { return "#" + std::to_string(i); }, "; "),
            "#1; #2");
}

TEST(CommaList, SplitsTrimsAndDropsEmptyItems) {
  EXPECT_EQ(split(" a, ,b\t,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split("").empty());
  EXPECT_TRUE(split(" , ").empty());
  EXPECT_EQ(split(join(std::vector<std::string>{"/a", "/b:/c"})),
            (std::vector<std::string>{"/a", "/b:/c"}));
}

}  // namespace
}  // namespace ascend::plugin
