// The ascend-device-plugin binary itself: flags, wiring, both discovery backends, and clean
// shutdown, driven by a fake kubelet on a temp directory.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "plugin/testing/fake_host.hpp"
#include "plugin/testing/fake_kubelet.hpp"

namespace ascend::plugin {
namespace {

using namespace std::chrono_literals;
using kube::testing::TempDir;
using testing::FakeKubelet;
using ::testing::HasSubstr;

// The binary as a child process with its output in files.
class Plugin {
 public:
  Plugin(const std::filesystem::path& dir, std::vector<std::string> args,
         std::vector<std::string> env = {})
      : out_(dir / "stdout"), err_(dir / "stderr") {
    args.insert(args.begin(), ASCEND_DEVICE_PLUGIN_BINARY);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::freopen(out_.c_str(), "w", stdout) == nullptr) std::_Exit(126);
      if (::freopen(err_.c_str(), "w", stderr) == nullptr) std::_Exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      std::_Exit(127);
    }
  }
  ~Plugin() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  /// Exit code, or -1 if it did not exit within the bound.
  int Wait(std::chrono::seconds bound = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  void Signal(int signal) const { ::kill(pid_, signal); }
  std::string out() const { return kube::testing::read_file(out_); }
  std::string err() const { return kube::testing::read_file(err_); }

 private:
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
};

v1beta1::ListAndWatchResponse FirstList(FakeKubelet& kubelet) {
  auto stub = kubelet.Dial("Ascend910.sock");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 20s);
  auto reader = stub->ListAndWatch(&context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  EXPECT_TRUE(reader->Read(&response));
  context.TryCancel();
  return response;
}

class BinaryTest : public ::testing::Test {
 protected:
  std::vector<std::string> Flags() const {
    return {"--socket-dir=" + host_.plugins().string(), "--device-root=" + host_.dev().string(),
            "--allow-regular-device-files", "--http-address=off",
            "--driver-lib-dirs=" + (host_ / "nolib").string()};
  }
  testing::FakeHost host_;
};

TEST_F(BinaryTest, HelpAndBadFlags) {
  {
    Plugin help(host_.root(), {"--help"});
    EXPECT_EQ(help.Wait(), 0);
    EXPECT_THAT(help.out(), HasSubstr("--health-interval"));
  }
  Plugin bad(host_.root(), {"--health-interval=never"});
  EXPECT_EQ(bad.Wait(), 2);
  const std::string err = bad.err();
  EXPECT_THAT(err, HasSubstr("health-interval=\"never\""));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST_F(BinaryTest, ServesRegistersAndShutsDownCleanly) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.Start();
  Plugin plugin(host_.root(), Flags());
  const auto registration = kubelet.WaitForRegistration(1, 30s);
  ASSERT_TRUE(registration.has_value()) << plugin.err();
  EXPECT_EQ(registration->request.resource_name(), "huawei.com/Ascend910");
  const auto list = FirstList(kubelet);
  EXPECT_EQ(list.devices_size(), 8);

  plugin.Signal(SIGTERM);
  EXPECT_EQ(plugin.Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(host_ / "plugins/Ascend910.sock"));
  const std::string err = plugin.err();
  EXPECT_THAT(err, HasSubstr("DCMI not available, using device files"));
  EXPECT_THAT(err, HasSubstr("component=plugin"));
  EXPECT_THAT(err, HasSubstr("shutting down component=plugin signal=SIGTERM"));
}

TEST_F(BinaryTest, DiscoversThroughTheFakeDcmiLibrary) {
  // Chip 3 raises a minor alarm with a warning code (stays Healthy), chip 4 a minor alarm with
  // a critical code (Unhealthy).
  kube::testing::write_file(
      host_ / "inventory",
      "chip 0 0 0 0 910B3 0\nchip 1 0 1 1 910B3 0\nchip 2 0 2 2 910B3 3 80E01801\n"
      "chip 3 0 3 3 910B3 1 80E21007\nchip 4 0 4 4 910B3 1 80E3A201\n");
  FakeKubelet kubelet(host_.plugins());
  kubelet.Start();
  std::vector<std::string> flags = Flags();
  flags.back() = std::string("--driver-lib-dirs=") + FAKE_DCMI_DIR;
  Plugin plugin(host_.root(), flags, {"FAKE_DCMI_INVENTORY=" + (host_ / "inventory").string()});
  ASSERT_TRUE(kubelet.WaitForRegistration(1, 30s).has_value()) << plugin.err();
  const auto list = FirstList(kubelet);
  ASSERT_EQ(list.devices_size(), 5);
  EXPECT_EQ(list.devices(2).health(), "Unhealthy");
  EXPECT_EQ(list.devices(1).health(), "Healthy");
  EXPECT_EQ(list.devices(3).health(), "Healthy");
  EXPECT_EQ(list.devices(4).health(), "Unhealthy");
  plugin.Signal(SIGINT);
  EXPECT_EQ(plugin.Wait(), 0);
  const std::string err = plugin.err();
  EXPECT_THAT(err, HasSubstr("model=910B"));
  EXPECT_THAT(err, HasSubstr("backend=dcmi"));
  EXPECT_THAT(err, HasSubstr("chip fault reported component=plugin device=Ascend910-3 "
                             "code=0x80E21007 severity=warning health=Healthy"));
  EXPECT_THAT(err, HasSubstr("device=Ascend910-4 code=0x80E3A201 severity=critical"));
}

TEST_F(BinaryTest, DcmiOnlyWithoutTheLibraryKeepsServingAnEmptyList) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.Start();
  std::vector<std::string> flags = Flags();
  flags.emplace_back("--discovery=dcmi");
  Plugin plugin(host_.root(), flags);
  ASSERT_TRUE(kubelet.WaitForRegistration(1, 30s).has_value()) << plugin.err();
  EXPECT_EQ(FirstList(kubelet).devices_size(), 0);
  plugin.Signal(SIGTERM);
  EXPECT_EQ(plugin.Wait(), 0);
  EXPECT_THAT(plugin.err(), HasSubstr("cannot load libdcmi.so"));
}

TEST_F(BinaryTest, MissingDeviceRootKeepsServing) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.Start();
  std::vector<std::string> flags = Flags();
  flags[1] = "--device-root=" + (host_ / "no-dev").string();
  Plugin plugin(host_.root(), flags);
  ASSERT_TRUE(kubelet.WaitForRegistration(1, 30s).has_value()) << plugin.err();
  EXPECT_EQ(FirstList(kubelet).devices_size(), 0);
  plugin.Signal(SIGTERM);
  EXPECT_EQ(plugin.Wait(), 0);
  EXPECT_THAT(plugin.err(), HasSubstr("cannot read device root"));
}

}  // namespace
}  // namespace ascend::plugin
