#include "plugin/topology.hpp"

#include <algorithm>

namespace ascend::plugin {

int Topology::domain_size() const {
  switch (kind_) {
    case TopologyKind::kRing4:
      return 4;
    case TopologyKind::kModule8:
    case TopologyKind::kBox16:
      return 8;
    case TopologyKind::kFlat:
      break;
  }
  return 0;
}

int Topology::domain_of(int physical_id) const {
  const int size = domain_size();
  return size == 0 ? 0 : physical_id / size;
}

bool Topology::valid_size(int n) const {
  if (n < 1) return false;
  switch (kind_) {
    case TopologyKind::kRing4:
      return n == 1 || n == 2 || n == 4 || n == 8;
    case TopologyKind::kModule8:
      return n <= 8;
    case TopologyKind::kBox16:
      return n <= 16 && !(n > 8 && n % 2 == 1);
    case TopologyKind::kFlat:
      break;
  }
  return true;
}

std::string_view Topology::name() const {
  switch (kind_) {
    case TopologyKind::kRing4:
      return "910a-ring4";
    case TopologyKind::kModule8:
      return "910b-module8";
    case TopologyKind::kBox16:
      return "box16";
    case TopologyKind::kFlat:
      break;
  }
  return "flat";
}

std::optional<TopologyKind> parse_topology_kind(std::string_view text) {
  if (text == "flat") return TopologyKind::kFlat;
  if (text == "910a-ring4") return TopologyKind::kRing4;
  if (text == "910b-module8") return TopologyKind::kModule8;
  if (text == "box16") return TopologyKind::kBox16;
  return std::nullopt;
}

TopologyKind infer_topology(ChipModel model, const std::vector<int>& physical_ids) {
  if (model == ChipModel::k910A) return TopologyKind::kRing4;
  const bool beyond_eight =
      std::any_of(physical_ids.begin(), physical_ids.end(), [](int id) { return id >= 8; });
  return beyond_eight ? TopologyKind::kBox16 : TopologyKind::kModule8;
}

ChipModel resolve_chip_model(std::optional<ChipModel> configured,
                             const std::vector<ChipStatus>& chips) {
  if (configured) return *configured;
  for (const ChipStatus& status : chips) {
    if (!status.chip.name.empty()) return model_from_chip_name(status.chip.name);
  }
  return ChipModel::kUnknown;
}

}  // namespace ascend::plugin
