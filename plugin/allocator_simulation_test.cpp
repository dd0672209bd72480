// A simulation over random arrival/departure traces: the default policy (keep whole HCCS
// domains whole) leaves fewer large jobs unplaceable than first fit. The same trace drives
// every policy; a job that cannot stay inside HCCS domains is not placed (Volcano's rule).
//
// What the simulation taught us, kept here so nobody "fixes" the policy back: classic best fit
// (fewest free chips first) does NOT beat first fit on a 16-chip box; it flips small jobs
// between the halves so neither drains. Keeping whole domains whole and packing the partly
// used ones in a fixed order beats both.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "plugin/allocator.hpp"

namespace ascend::plugin {
namespace {

struct Job {
  int size = 0;
  int duration = 0;  // steps until it leaves
};

// One arrival per step; sizes 1, 2, 4, 8 with weights 40/25/20/15, lifetimes 1..max_duration.
std::vector<Job> make_trace(unsigned seed, int count, int max_duration) {
  std::mt19937 rng(seed);
  std::discrete_distribution<int> size_index({40, 25, 20, 15});
  const int sizes[] = {1, 2, 4, 8};
  std::uniform_int_distribution<int> duration(1, max_duration);
  std::vector<Job> jobs(static_cast<std::size_t>(count));
  for (Job& job : jobs) {
    const int size = sizes[size_index(rng)];
    job = Job{size, duration(rng)};
  }
  return jobs;
}

// Large jobs (`large` chips) refused although enough chips were free: stranded by placement.
int count_stranded(TopologyKind kind, int chips, int large, const std::vector<Job>& trace,
                   AllocationPolicy policy) {
  const Allocator allocator{Topology(kind), policy};
  std::set<int> free;
  for (int id = 0; id < chips; ++id)
    free.insert(id);
  struct Running {
    std::vector<int> chips;
    int leaves_at;
  };
  std::vector<Running> running;
  int stranded = 0;
  for (int now = 0; now < static_cast<int>(trace.size()); ++now) {
    for (auto it = running.begin(); it != running.end();) {
      if (it->leaves_at <= now) {
        free.insert(it->chips.begin(), it->chips.end());
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    const Job& job = trace[static_cast<std::size_t>(now)];
    if (static_cast<int>(free.size()) < job.size) continue;  // no capacity: not placement
    auto choice = allocator.choose({std::vector<int>(free.begin(), free.end()), {}, job.size});
    if (!choice.ok() || !choice.value().within_domains || !choice.value().valid_size) {
      if (job.size == large) ++stranded;
      continue;
    }
    for (int id : choice.value().chips)
      free.erase(id);
    running.push_back({choice.value().chips, now + job.duration});
  }
  return stranded;
}

struct Scenario {
  const char* name;
  TopologyKind kind;
  int chips;
  int large;  // the job size that needs a whole domain
  int max_duration;
  // Near saturation keep-whole and first fit converge: keep-whole is then only required not
  // to be worse (2426 against 2436 stranded on these traces), elsewhere to be strictly better.
  bool beats_first_fit;
};

TEST(AllocatorSimulation, KeepWholeStrandsFewerLargeJobsThanFirstFit) {
  const Scenario scenarios[] = {
      {"box16, 8-chip jobs, short jobs", TopologyKind::kBox16, 16, 8, 8, true},
      {"box16, 8-chip jobs, longer jobs (near saturation)", TopologyKind::kBox16, 16, 8, 16, false},
      {"910A, 4-chip jobs", TopologyKind::kRing4, 8, 4, 8, true},
  };
  for (const Scenario& s : scenarios) {
    int keep_whole = 0;
    int first_fit = 0;
    int fewest_free = 0;
    for (unsigned seed = 1; seed <= 5; ++seed) {
      const auto trace = make_trace(seed, 20000, s.max_duration);
      keep_whole += count_stranded(s.kind, s.chips, s.large, trace, AllocationPolicy::kKeepWhole);
      first_fit += count_stranded(s.kind, s.chips, s.large, trace, AllocationPolicy::kFirstFit);
      fewest_free += count_stranded(s.kind, s.chips, s.large, trace, AllocationPolicy::kFewestFree);
    }
    const std::string counts =
        std::string(s.name) + ": stranded over 5 traces: keep-whole " + std::to_string(keep_whole) +
        ", first-fit " + std::to_string(first_fit) + ", fewest-free " + std::to_string(fewest_free);
    EXPECT_GT(first_fit, 0) << counts;  // the traces do exercise fragmentation
    EXPECT_LE(keep_whole, first_fit) << counts;
    EXPECT_LE(keep_whole, fewest_free) << counts;
    if (s.beats_first_fit) {
      EXPECT_LT(keep_whole, first_fit) << counts;
    }
  }
}

}  // namespace
}  // namespace ascend::plugin
