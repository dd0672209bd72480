#pragma once

// How the chips of one host are joined by HCCS, and which allocation sizes that layout allows.
//
// The rules are the ones Volcano's Ascend scheduler plugin enforces (REFERENCE.md §2):
// 910A modules are two HCCS rings of four; a 910B 8-chip module is one HCCS domain; 16-chip
// boxes are two 8-chip halves and cannot serve 9, 11, 13 or 15 chips.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/chip.hpp"

namespace ascend::plugin {

/// The HCCS layout of one host.
enum class TopologyKind {
  kFlat,     ///< no known HCCS structure: one domain, every size valid
  kRing4,    ///< 910A: rings of 4 (chips 0-3, 4-7, ...); sizes 1, 2, 4 inside a ring, or 8
  kModule8,  ///< 910B 8-chip module: one domain, sizes 1..8
  kBox16,    ///< 16-chip box: halves 0-7 and 8-15; sizes <= 8 inside a half; 9/11/13/15 invalid
};

/// Topology answers structural questions about physical chip ids. It is stateless: the domain
/// of a chip follows from its physical id, so chips discovered later need no update.
class Topology final {
 public:
  explicit Topology(TopologyKind kind) : kind_(kind) {}

  TopologyKind kind() const { return kind_; }
  /// Chips per HCCS domain (0 for kFlat: unbounded).
  int domain_size() const;
  /// The HCCS domain a physical chip belongs to.
  int domain_of(int physical_id) const;
  /// Whether a request for n chips is allowed by this layout (n >= 1).
  bool valid_size(int n) const;
  /// Printable name, e.g. "910b-module8".
  std::string_view name() const;

 private:
  TopologyKind kind_;
};

/// Parses a layout name: "flat", "910a-ring4", "910b-module8", "box16"; nullopt otherwise.
std::optional<TopologyKind> parse_topology_kind(std::string_view text);

/// The layout for a host from what discovery found: the chip model and the physical ids.
/// An unknown model is taken as 910B (the chip this project targets); a 910B or A3 host with a
/// chip id of 8 or above is a 16-chip box.
TopologyKind infer_topology(ChipModel model, const std::vector<int>& physical_ids);

/// The model of a host: the configured one, else the first chip name discovery reported
/// (model_from_chip_name), else kUnknown.
ChipModel resolve_chip_model(std::optional<ChipModel> configured,
                             const std::vector<ChipStatus>& chips);

}  // namespace ascend::plugin
