#include "plugin/discovery/devfs.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <system_error>

namespace ascend::plugin {

bool is_device_node(const std::filesystem::path& path, const DevfsOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (S_ISCHR(st.st_mode)) return true;
  return options.allow_regular_files && S_ISREG(st.st_mode);
}

int chip_id_from_file_name(std::string_view name) {
  constexpr std::string_view kPrefix = "davinci";
  if (!name.starts_with(kPrefix)) return -1;
  const std::string_view digits = name.substr(kPrefix.size());
  // "davinci07" would alias davinci7; the driver never creates it, so refuse it.
  if (digits.empty() || digits.size() > 4 || (digits.size() > 1 && digits[0] == '0')) return -1;
  int id = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || end != digits.data() + digits.size()) return -1;
  return id;
}

Result<std::vector<ChipStatus>> DevfsDiscovery::scan() {
  std::error_code ec;
  std::filesystem::directory_iterator it(options_.device_root, ec);
  if (ec) {
    return unavailable("cannot read device root " + options_.device_root.string() + ": " +
                       ec.message() + " (set --device-root to where davinci<N> live)");
  }
  std::vector<ChipStatus> chips;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const int id = chip_id_from_file_name(it->path().filename().native());
    if (id < 0 || !is_device_node(it->path(), options_)) continue;
    ChipStatus status;
    status.chip.physical_id = id;
    chips.push_back(std::move(status));
  }
  std::sort(chips.begin(), chips.end(), [](const ChipStatus& a, const ChipStatus& b) {
    return a.chip.physical_id < b.chip.physical_id;
  });
  return chips;
}

}  // namespace ascend::plugin
