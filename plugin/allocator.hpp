#pragma once

// GetPreferredAllocation: which chips a container should get, given what the kubelet has free.

#include <vector>

#include "plugin/error.hpp"
#include "plugin/topology.hpp"

namespace ascend::plugin {

/// How to choose among the placements the topology allows.
enum class AllocationPolicy {
  /// The default. Never breaks into a wholly free HCCS domain while a partly used one fits,
  /// and packs partly used domains in a fixed order (lowest first). Keeping one order makes
  /// small jobs pile up in the same domains, so the others drain and stay whole for large jobs;
  /// allocator_simulation_test shows it strands fewer 8-chip jobs than the alternatives.
  kKeepWhole,
  /// Classic best fit: the domain with the fewest free chips that still fits.
  kFewestFree,
  /// The lowest-numbered domain that fits.
  kFirstFit,
};

/// One container's request, in physical chip ids.
struct PreferredRequest {
  std::vector<int> available;     ///< chips the kubelet may hand out (free and healthy)
  std::vector<int> must_include;  ///< chips the answer must contain (already chosen by kubelet)
  int size = 0;                   ///< how many chips the container gets
};

/// The chosen chips, and whether the choice respects the HCCS rules.
struct Preference {
  std::vector<int> chips;      ///< sorted, distinct, exactly `size` of them
  bool within_domains = true;  ///< false: no placement inside HCCS domains exists; best effort
  bool valid_size = true;      ///< false: the topology does not allow this size at all
};

/// Chooses chips for a container. Stateless and thread-safe.
class Allocator final {
 public:
  explicit Allocator(Topology topology, AllocationPolicy policy = AllocationPolicy::kKeepWhole)
      : topology_(topology), policy_(policy) {}

  /// Guarantees: the answer contains every must_include chip, only chips from available or
  /// must_include, and exactly size chips. A placement inside HCCS domains is preferred (for
  /// sizes above a domain: an even split over the fewest domains); among those the policy
  /// decides. When none exists the answer is still returned with within_domains=false.
  /// Errors: kInvalidArgument when size < 1, size exceeds the chips offered, or must_include
  /// holds more than size chips.
  Result<Preference> choose(const PreferredRequest& request) const;

  const Topology& topology() const { return topology_; }

 private:
  Topology topology_;
  AllocationPolicy policy_;
};

}  // namespace ascend::plugin
