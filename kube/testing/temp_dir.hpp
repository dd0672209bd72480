// A fresh directory for one test, and the file reads and writes tests do inside it.
// Header-only, so every test can use it without linking kube/ (the stand-in workload's tests
// link nothing of ours but the workload).
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace ascend::kube::testing {

/// A fresh directory /tmp/<prefix>-XXXXXX, removed with everything in it on destruction.
/// Always under /tmp (not $TMPDIR) and short: unix socket paths inside it must stay under
/// 108 bytes.
class TempDir final {
 public:
  /// Throws std::system_error when the directory cannot be made (the test cannot go on).
  explicit TempDir(std::string_view prefix = "ascend") {
    std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The directory.
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// A path inside the directory.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Creates (or truncates) a regular file with the given text, creating parent directories.
/// Throws std::runtime_error when the file cannot be written.
inline void write_file(const std::filesystem::path& path, const std::string& text = "") {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

/// The whole file; empty when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace ascend::kube::testing
