#include "plugin/testing/fake_host.hpp"

namespace ascend::plugin::testing {

void make_device_tree(const std::filesystem::path& root, int chips) {
  std::filesystem::create_directories(root);
  for (int i = 0; i < chips; ++i)
    kube::testing::write_file(root / ("davinci" + std::to_string(i)));
  for (const char* name : {"davinci_manager", "devmm_svm", "hisi_hdc"})
    kube::testing::write_file(root / name);
}

FakeHost::FakeHost(int chips) {
  make_device_tree(dev(), chips);
  std::filesystem::create_directories(plugins());
}

}  // namespace ascend::plugin::testing
