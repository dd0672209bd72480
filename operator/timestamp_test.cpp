#include "operator/timestamp.hpp"

#include <gtest/gtest.h>

namespace ascend::op {
namespace {

TEST(Timestamp, FormatsUtcSeconds) {
  const auto t =
      std::chrono::system_clock::from_time_t(1700000000) + std::chrono::milliseconds(999);
  EXPECT_EQ(format_time(t), "2023-11-14T22:13:20Z");
}

TEST(Timestamp, ParsesWhatTheApiServerWrites) {
  const auto t = std::chrono::system_clock::from_time_t(1700000000);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20Z"), t);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20.123456Z"), t);
  EXPECT_EQ(parse_time("2023-11-15T00:13:20+02:00"), t);
  EXPECT_EQ(parse_time("2023-11-14T21:13:20-01:00"), t);
  EXPECT_EQ(parse_time(format_time(t)), t);
}

TEST(Timestamp, RejectsOtherText) {
  for (const char* bad :
       {"", "yesterday", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
        "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0200", "2023-11-14 22:13:20Z"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ascend::op
