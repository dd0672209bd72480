#include "plugin/allocator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace ascend::plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::IsSupersetOf;

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(std::max(0, to - from)));
  for (int i = from; i < to; ++i)
    out.push_back(i);
  return out;
}

Preference choose(TopologyKind kind, std::vector<int> available, int size,
                  std::vector<int> must = {},
                  AllocationPolicy policy = AllocationPolicy::kKeepWhole) {
  const Allocator allocator{Topology(kind), policy};
  auto result = allocator.choose(PreferredRequest{std::move(available), std::move(must), size});
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : Preference{};
}

TEST(Allocator, Module8TakesLowestIdsAndHonoursMustInclude) {
  EXPECT_THAT(choose(TopologyKind::kModule8, range(0, 8), 2).chips, ElementsAre(0, 1));
  const Preference p = choose(TopologyKind::kModule8, range(0, 8), 2, {5});
  EXPECT_THAT(p.chips, ElementsAre(0, 5));
  EXPECT_TRUE(p.within_domains);
}

TEST(Allocator, Ring4BestFitTakesTheFullerRing) {
  // Ring 0 wholly free, ring 1 has two free: a 2-chip job belongs in ring 1.
  const std::vector<int> available = {0, 1, 2, 3, 6, 7};
  EXPECT_THAT(choose(TopologyKind::kRing4, available, 2).chips, ElementsAre(6, 7));
  EXPECT_THAT(choose(TopologyKind::kRing4, available, 2, {}, AllocationPolicy::kFirstFit).chips,
              ElementsAre(0, 1));
}

TEST(Allocator, KeepWholePacksPartlyUsedDomainsInOrder) {
  // Both halves partly used: keep-whole packs the first one, fewest-free the fuller one.
  const std::vector<int> available = {0, 1, 2, 3, 4, 5, 12, 13, 14};
  EXPECT_THAT(choose(TopologyKind::kBox16, available, 2).chips, ElementsAre(0, 1));
  EXPECT_THAT(choose(TopologyKind::kBox16, available, 2, {}, AllocationPolicy::kFewestFree).chips,
              ElementsAre(12, 13));
  // Half 0 wholly free, half 1 partly used: both policies keep half 0 whole.
  std::vector<int> whole = range(0, 8);
  whole.push_back(9);
  whole.push_back(10);
  EXPECT_THAT(choose(TopologyKind::kBox16, whole, 2).chips, ElementsAre(9, 10));
  EXPECT_THAT(choose(TopologyKind::kBox16, whole, 2, {}, AllocationPolicy::kFewestFree).chips,
              ElementsAre(9, 10));
  EXPECT_THAT(choose(TopologyKind::kBox16, whole, 2, {}, AllocationPolicy::kFirstFit).chips,
              ElementsAre(0, 1));
}

TEST(Allocator, Ring4FourChipsNeedAWholeRing) {
  const Preference p = choose(TopologyKind::kRing4, {0, 1, 2, 4, 5, 6, 7}, 4);
  EXPECT_THAT(p.chips, ElementsAre(4, 5, 6, 7));
  EXPECT_TRUE(p.within_domains);
}

TEST(Allocator, Ring4EightChipsSpanBothRings) {
  const Preference p = choose(TopologyKind::kRing4, range(0, 8), 8);
  EXPECT_EQ(p.chips, range(0, 8));
  EXPECT_TRUE(p.within_domains);
  EXPECT_TRUE(p.valid_size);
}

TEST(Allocator, Ring4WithoutAWholeRingIsBestEffort) {
  const Preference p = choose(TopologyKind::kRing4, {0, 1, 2, 4, 5, 6}, 4);
  EXPECT_EQ(p.chips.size(), 4U);
  EXPECT_FALSE(p.within_domains);
}

TEST(Allocator, Ring4FlagsInvalidSizes) {
  const Preference p = choose(TopologyKind::kRing4, range(0, 8), 3);
  EXPECT_FALSE(p.valid_size);
  EXPECT_EQ(p.chips.size(), 3U);
  // Still inside one ring: 3 chips of ring 0.
  EXPECT_THAT(p.chips, ElementsAre(0, 1, 2));
}

TEST(Allocator, MustIncludeDecidesTheRing) {
  // Best fit alone would pick ring 1 (two free), but chip 1 was already chosen.
  const Preference p = choose(TopologyKind::kRing4, {0, 1, 2, 3, 6, 7}, 2, {1});
  EXPECT_THAT(p.chips, ElementsAre(0, 1));
  EXPECT_TRUE(p.within_domains);
}

TEST(Allocator, MustIncludeAcrossRingsIsKeptButFlagged) {
  const Preference p = choose(TopologyKind::kRing4, range(0, 8), 2, {1, 5});
  EXPECT_THAT(p.chips, ElementsAre(1, 5));
  EXPECT_FALSE(p.within_domains);
}

TEST(Allocator, Box16EightChipsTakeTheWholeFreeHalf) {
  std::vector<int> available = {0, 1, 2, 3, 4};  // half 0: 5 free
  for (int i = 8; i < 16; ++i)
    available.push_back(i);
  EXPECT_EQ(choose(TopologyKind::kBox16, available, 8).chips, range(8, 16));
  // A 4-chip job goes to the fuller half, leaving half 1 whole.
  EXPECT_THAT(choose(TopologyKind::kBox16, available, 4).chips, ElementsAre(0, 1, 2, 3));
}

TEST(Allocator, Box16LargeRequestsSplitEvenly) {
  const Preference p = choose(TopologyKind::kBox16, range(0, 16), 12);
  ASSERT_EQ(p.chips.size(), 12U);
  const auto low = std::count_if(p.chips.begin(), p.chips.end(), [](int id) { return id < 8; });
  EXPECT_EQ(low, 6);
  EXPECT_TRUE(p.within_domains);
  EXPECT_FALSE(choose(TopologyKind::kBox16, range(0, 16), 9).valid_size);
}

TEST(Allocator, RejectsImpossibleRequests) {
  const Allocator allocator{Topology(TopologyKind::kModule8)};
  EXPECT_EQ(allocator.choose({range(0, 8), {}, 0}).error().reason, kInvalidArgument);
  EXPECT_EQ(allocator.choose({range(0, 2), {}, 3}).error().reason, kInvalidArgument);
  EXPECT_EQ(allocator.choose({range(0, 8), {1, 2, 3}, 2}).error().reason, kInvalidArgument);
}

// Whatever the request, the answer keeps the contract the kubelet relies on.
TEST(Allocator, AnswersAlwaysKeepTheContract) {
  std::mt19937 rng(7);
  for (TopologyKind kind :
       {TopologyKind::kFlat, TopologyKind::kRing4, TopologyKind::kModule8, TopologyKind::kBox16}) {
    const Allocator allocator{Topology(kind)};
    for (int round = 0; round < 500; ++round) {
      std::vector<int> available;
      for (int id = 0; id < 16; ++id) {
        if (rng() % 3 != 0) available.push_back(id);
      }
      if (available.empty()) continue;
      const int size = 1 + static_cast<int>(rng() % available.size());
      std::vector<int> must;
      for (int id : available) {
        if (static_cast<int>(must.size()) < size && rng() % 5 == 0) must.push_back(id);
      }
      auto result = allocator.choose({available, must, size});
      ASSERT_TRUE(result.ok()) << result.error().message;
      const auto& chips = result.value().chips;
      EXPECT_EQ(static_cast<int>(chips.size()), size);
      EXPECT_EQ(std::set<int>(chips.begin(), chips.end()).size(), chips.size());
      EXPECT_THAT(chips, IsSupersetOf(must));
      for (int id : chips) {
        EXPECT_NE(std::find(available.begin(), available.end(), id), available.end());
      }
    }
  }
}

}  // namespace
}  // namespace ascend::plugin
