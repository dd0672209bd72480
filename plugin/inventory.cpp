#include "plugin/inventory.hpp"

#include <algorithm>
#include <utility>

namespace ascend::plugin {

const ChipStatus* InventorySnapshot::find(int physical_id) const {
  const auto it =
      std::lower_bound(chips.begin(), chips.end(), physical_id,
                       [](const ChipStatus& c, int id) { return c.chip.physical_id < id; });
  return it != chips.end() && it->chip.physical_id == physical_id ? &*it : nullptr;
}

bool Inventory::update(std::vector<ChipStatus> chips) {
  std::sort(chips.begin(), chips.end(), [](const ChipStatus& a, const ChipStatus& b) {
    return a.chip.physical_id < b.chip.physical_id;
  });
  {
    const std::lock_guard lock(mu_);
    if (chips == current_.chips) return false;
    current_.chips = std::move(chips);
    ++current_.version;
  }
  changed_.notify_all();
  return true;
}

InventorySnapshot Inventory::snapshot() const {
  const std::lock_guard lock(mu_);
  return current_;
}

std::optional<InventorySnapshot> Inventory::wait_for_change(std::uint64_t seen,
                                                            std::chrono::milliseconds timeout,
                                                            std::stop_token stop) const {
  std::unique_lock lock(mu_);
  const bool changed =
      changed_.wait_for(lock, std::move(stop), timeout, [&] { return current_.version != seen; });
  if (!changed) return std::nullopt;
  return current_;
}

}  // namespace ascend::plugin
