#include "tests/plugin/temp_dir.hpp"

#include <stdlib.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

namespace ascend::plugin::testing {

TempDir::TempDir() {
  std::string pattern = "/tmp/adp-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void MakeDeviceTree(const std::filesystem::path& root, int chips) {
  for (int i = 0; i < chips; ++i)
    WriteFile(root / ("davinci" + std::to_string(i)));
  for (const char* name : {"davinci_manager", "devmm_svm", "hisi_hdc"})
    WriteFile(root / name);
}

}  // namespace ascend::plugin::testing
