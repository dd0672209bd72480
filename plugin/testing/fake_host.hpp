#pragma once

// What the plugin sees of a node, faked in a temp directory without root: a device tree of
// regular files (davinci<N> and the shared nodes) and the kubelet's device-plugin directory.

#include <filesystem>
#include <string>

#include "kube/testing/temp_dir.hpp"

namespace ascend::plugin::testing {

/// Fakes a device tree: regular files davinci0..davinci<chips-1> and the shared nodes
/// davinci_manager, devmm_svm and hisi_hdc under `root` (made if missing).
void make_device_tree(const std::filesystem::path& root, int chips);

/// A temp directory holding <root>/dev with a fake device tree and an empty <root>/plugins
/// (the kubelet's device-plugin directory). Removed with everything in it on destruction.
class FakeHost final {
 public:
  /// `chips` fake chips under dev().
  explicit FakeHost(int chips = 8);

  /// The temp directory.
  [[nodiscard]] const std::filesystem::path& root() const { return dir_.path(); }
  /// The device root (--device-root).
  [[nodiscard]] std::filesystem::path dev() const { return dir_ / "dev"; }
  /// The device-plugin directory (--socket-dir).
  [[nodiscard]] std::filesystem::path plugins() const { return dir_ / "plugins"; }
  /// A path inside the temp directory.
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  kube::testing::TempDir dir_;
};

}  // namespace ascend::plugin::testing
