// The stand-in's device check: the NPUs the device plugin allocated (ASCEND_VISIBLE_DEVICES)
// must be exactly the /dev/davinci<N> files the container sees, the shared Ascend device
// files must be there, and ASCEND_RT_VISIBLE_DEVICES must number the chips 0..n-1.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ascend::standin {

// Reads one environment variable (a function so tests can pass their own environment).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The shared device files every Ascend container needs besides its davinci<N>.
inline const std::vector<std::string> kSharedDevices = {"davinci_manager", "devmm_svm", "hisi_hdc"};

struct DeviceCheckOptions {
  std::filesystem::path dev_root = "/dev";  // STANDIN_DEV_ROOT, for tests
  bool require_char_devices = true;         // false only in unit tests (no mknod needed)
};

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

struct DeviceFile {
  std::string path;  // as the container sees it, e.g. /dev/davinci3
  bool exists = false;
  bool char_device = false;
  std::string numbers;  // "major:minor" for a character device
};

struct DeviceReport {
  std::optional<std::string> visible_env;     // ASCEND_VISIBLE_DEVICES as set
  std::optional<std::string> rt_visible_env;  // ASCEND_RT_VISIBLE_DEVICES as set
  std::vector<int> requested;                 // ids parsed from ASCEND_VISIBLE_DEVICES
  std::vector<int> seen;                      // N of every davinci<N> under the device root
  std::vector<DeviceFile> chips;              // the davinci<N> files seen
  std::vector<DeviceFile> shared;             // davinci_manager, devmm_svm, hisi_hdc
  std::vector<Check> checks;

  bool ok() const;
};

// Parses "0,3,5" (spaces allowed around ids); nullopt when malformed, negative or repeated.
std::optional<std::vector<int>> parse_id_list(const std::string& text);

DeviceReport check_devices(const DeviceCheckOptions& options, const EnvLookup& env);

// One line per check: "[ok]   name: detail" or "[FAIL] name: detail".
std::string format_checks(const std::vector<Check>& checks);

}  // namespace ascend::standin
