#pragma once

// A fresh directory under /tmp for one test, removed with everything in it afterwards. Kept
// short: unix socket paths inside it must stay under 108 bytes.

#include <filesystem>
#include <string>

namespace ascend::plugin::testing {

class TempDir final {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Creates (or truncates) a regular file with the given text, creating parent directories.
void WriteFile(const std::filesystem::path& path, const std::string& text = "");

/// Fakes a device tree without root: regular files davinci<id> and the shared nodes.
void MakeDeviceTree(const std::filesystem::path& root, int chips);

}  // namespace ascend::plugin::testing
