#pragma once

// Discovery through Huawei's DCMI library, opened with dlopen as on real hosts: cards, chips,
// logical and physical ids, chip name, health and error codes.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/discovery/dcmi_faults.hpp"
#include "plugin/discovery/discovery.hpp"

namespace ascend::plugin {

/// Where to find libdcmi.so.
struct DcmiOptions {
  /// Directories tried in order for libdcmi.so (the driver's lib64, lib64/driver, lib64/common).
  std::vector<std::filesystem::path> library_dirs;
  /// After the directories, let the dynamic linker search (LD_LIBRARY_PATH, ld.so.cache).
  bool use_linker_search = true;
  /// How reported fault codes are classified (see classify_dcmi).
  DcmiFaultTable faults = DcmiFaultTable::defaults();
};

/// What a DCMI health value means. 0 is normal and 1 a minor alarm (both usable); 2 and 3 are
/// major and critical alarms; anything else (0xffffffff) means the chip is not running.
bool dcmi_health_is_usable(unsigned int health);

/// DCMI backend. Not thread-safe (DCMI itself is not documented as such).
class DcmiDiscovery final : public Discovery {
 public:
  explicit DcmiDiscovery(DcmiOptions options);
  ~DcmiDiscovery() override;
  DcmiDiscovery(const DcmiDiscovery&) = delete;
  DcmiDiscovery& operator=(const DcmiDiscovery&) = delete;

  std::string_view name() const override { return "dcmi"; }

  /// Loads libdcmi.so, resolves every function and calls dcmi_init once. Does nothing when
  /// already loaded. Errors: kUnavailable with the paths tried and the dlerror() text, the
  /// missing symbols, or the dcmi_init return code.
  Status load();

  /// Every chip of every card; loads the library first if needed (so a driver installed after
  /// the plugin started is picked up). A chip whose ids cannot be read is left out; a chip whose
  /// health cannot be read is reported Unhealthy with the DCMI error in its reason. When the
  /// health value is not 0 the chip's fault codes are read too and classify_dcmi decides; they
  /// are reported in ChipStatus::faults, a Healthy chip's warnings included.
  /// Errors: what load() reports, or kUnavailable when the card list cannot be read.
  Result<std::vector<ChipStatus>> scan() override;

  /// The file libdcmi.so was loaded from (the bare name when the linker found it); empty
  /// before a successful load().
  const std::string& library_path() const { return library_path_; }

 private:
  struct Api;
  ChipStatus read_chip(int card, int device, int logic_id) const;
  void unload();

  DcmiOptions options_;
  void* handle_ = nullptr;
  std::string library_path_;
  std::unique_ptr<Api> api_;
};

}  // namespace ascend::plugin
