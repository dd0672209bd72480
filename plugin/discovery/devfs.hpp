#pragma once

// Discovery from device files: one chip per /dev/davinci<N> under a device root. Used when
// the DCMI library is absent; knows ids only, so the chip model comes from configuration.

#include <filesystem>
#include <string_view>
#include <vector>

#include "plugin/discovery/discovery.hpp"

namespace ascend::plugin {

/// Where and how to look for device nodes.
struct DevfsOptions {
  std::filesystem::path device_root = "/dev";
  /// Accept regular files as device nodes. Only for test beds and unit tests, which cannot
  /// mknod without root; on a real host every chip is a character device.
  bool allow_regular_files = false;
};

/// True if `path` is a chip or shared device node under these options (a character device,
/// or a regular file when allowed).
bool is_device_node(const std::filesystem::path& path, const DevfsOptions& options);

/// The physical id in a device file name: "davinci7" -> 7; -1 for anything else
/// (davinci_manager, davinciX, davinci07 are not chips).
int chip_id_from_file_name(std::string_view name);

/// Device-file backend.
class DevfsDiscovery final : public Discovery {
 public:
  explicit DevfsDiscovery(DevfsOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return "devfs"; }

  /// Every davinci<N> node under the root, all Healthy (a node that exists is usable).
  /// Errors: kUnavailable when the device root does not exist or cannot be read.
  Result<std::vector<ChipStatus>> scan() override;

 private:
  DevfsOptions options_;
};

}  // namespace ascend::plugin
