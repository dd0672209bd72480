// The ascend-device-plugin binary itself: flags, wiring, both discovery backends, and clean
// shutdown, driven by a fake kubelet on a temp directory.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
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
  int wait(std::chrono::seconds bound = 30s) {
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
  void signal(int signal) const { ::kill(pid_, signal); }
  std::string out() const { return kube::testing::read_file(out_); }
  std::string err() const { return kube::testing::read_file(err_); }

 private:
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
};

v1beta1::ListAndWatchResponse first_list(FakeKubelet& kubelet) {
  auto stub = kubelet.dial("Ascend910.sock");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 20s);
  auto reader = stub->ListAndWatch(&context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  EXPECT_TRUE(reader->Read(&response));
  context.TryCancel();
  return response;
}

// A port nobody listens on now: bound to port 0, read back, released. (The plugin takes a
// host:port flag and does not report the port it got, so the test picks it.)
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = -1;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API's own cast
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (fd >= 0 && ::bind(fd, generic, sizeof address) == 0 &&
      ::getsockname(fd, generic, &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

// One HTTP/1.0 GET to 127.0.0.1:<port>; the whole response (status line, headers, body), or ""
// when nothing listens there yet.
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string response;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API's own cast
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      std::array<char, 4096> buffer{};
      for (ssize_t n = 0; (n = ::recv(fd, buffer.data(), buffer.size(), 0)) > 0;)
        response.append(buffer.data(), static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

class BinaryTest : public ::testing::Test {
 protected:
  std::vector<std::string> base_flags() const {
    return {"--socket-dir=" + host_.plugins().string(), "--device-root=" + host_.dev().string(),
            "--allow-regular-device-files", "--http-address=off",
            "--driver-lib-dirs=" + (host_ / "nolib").string()};
  }
  testing::FakeHost host_;
};

TEST_F(BinaryTest, HelpAndBadFlags) {
  {
    Plugin help(host_.root(), {"--help"});
    EXPECT_EQ(help.wait(), 0);
    EXPECT_THAT(help.out(), HasSubstr("--health-interval"));
  }
  Plugin bad(host_.root(), {"--health-interval=never"});
  EXPECT_EQ(bad.wait(), 2);
  const std::string err = bad.err();
  EXPECT_THAT(err, HasSubstr("health-interval=\"never\""));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST_F(BinaryTest, ServesRegistersAndShutsDownCleanly) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  Plugin plugin(host_.root(), base_flags());
  const auto registration = kubelet.wait_for_registration(1, 30s);
  ASSERT_TRUE(registration.has_value()) << plugin.err();
  EXPECT_EQ(registration->request.resource_name(), "huawei.com/Ascend910");
  const auto list = first_list(kubelet);
  EXPECT_EQ(list.devices_size(), 8);

  plugin.signal(SIGTERM);
  EXPECT_EQ(plugin.wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(host_ / "plugins/Ascend910.sock"));
  const std::string err = plugin.err();
  EXPECT_THAT(err, HasSubstr("DCMI not available, using device files"));
  EXPECT_THAT(err, HasSubstr("component=plugin"));
  EXPECT_THAT(err, HasSubstr("shutting down component=plugin signal=SIGTERM"));
}

TEST_F(BinaryTest, ServesItsOwnMetricsAndHealthz) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  const int port = free_port();
  ASSERT_GT(port, 0);
  std::vector<std::string> flags = base_flags();
  flags[3] = "--http-address=127.0.0.1:" + std::to_string(port);
  Plugin plugin(host_.root(), flags);
  ASSERT_TRUE(kubelet.wait_for_registration(1, 30s).has_value()) << plugin.err();

  // The registration counter is bumped just after the fake kubelet saw Register: poll.
  const std::string registered = "\nascend_plugin_registrations_total 1\n";
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (metrics.find(registered) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    metrics = http_get(port, "/metrics");
  }
  EXPECT_THAT(metrics, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(metrics, HasSubstr(registered));
  EXPECT_THAT(metrics, HasSubstr("\nascend_plugin_devices{health=\"Healthy\"} 8\n"));
  EXPECT_THAT(metrics, HasSubstr("\nascend_plugin_devices{health=\"Unhealthy\"} 0\n"));
  const std::string healthz = http_get(port, "/healthz");
  EXPECT_THAT(healthz, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(healthz, HasSubstr("\r\n\r\nok"));

  plugin.signal(SIGTERM);
  EXPECT_EQ(plugin.wait(), 0);
}

TEST_F(BinaryTest, DiscoversThroughTheFakeDcmiLibrary) {
  // Chip 3 raises a minor alarm with a warning code (stays Healthy), chip 4 a minor alarm with
  // a critical code (Unhealthy).
  kube::testing::write_file(
      host_ / "inventory",
      "chip 0 0 0 0 910B3 0\nchip 1 0 1 1 910B3 0\nchip 2 0 2 2 910B3 3 80E01801\n"
      "chip 3 0 3 3 910B3 1 80E21007\nchip 4 0 4 4 910B3 1 80E3A201\n");
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  std::vector<std::string> flags = base_flags();
  flags.back() = std::string("--driver-lib-dirs=") + FAKE_DCMI_DIR;
  Plugin plugin(host_.root(), flags, {"FAKE_DCMI_INVENTORY=" + (host_ / "inventory").string()});
  ASSERT_TRUE(kubelet.wait_for_registration(1, 30s).has_value()) << plugin.err();
  const auto list = first_list(kubelet);
  ASSERT_EQ(list.devices_size(), 5);
  EXPECT_EQ(list.devices(2).health(), "Unhealthy");
  EXPECT_EQ(list.devices(1).health(), "Healthy");
  EXPECT_EQ(list.devices(3).health(), "Healthy");
  EXPECT_EQ(list.devices(4).health(), "Unhealthy");
  plugin.signal(SIGINT);
  EXPECT_EQ(plugin.wait(), 0);
  const std::string err = plugin.err();
  EXPECT_THAT(err, HasSubstr("model=910B"));
  EXPECT_THAT(err, HasSubstr("backend=dcmi"));
  EXPECT_THAT(err, HasSubstr("chip fault reported component=plugin device=Ascend910-3 "
                             "code=0x80E21007 severity=warning health=Healthy"));
  EXPECT_THAT(err, HasSubstr("device=Ascend910-4 code=0x80E3A201 severity=critical"));
}

TEST_F(BinaryTest, DcmiOnlyWithoutTheLibraryKeepsServingAnEmptyList) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  std::vector<std::string> flags = base_flags();
  flags.emplace_back("--discovery=dcmi");
  Plugin plugin(host_.root(), flags);
  ASSERT_TRUE(kubelet.wait_for_registration(1, 30s).has_value()) << plugin.err();
  EXPECT_EQ(first_list(kubelet).devices_size(), 0);
  plugin.signal(SIGTERM);
  EXPECT_EQ(plugin.wait(), 0);
  EXPECT_THAT(plugin.err(), HasSubstr("cannot load libdcmi.so"));
}

TEST_F(BinaryTest, MissingDeviceRootKeepsServing) {
  FakeKubelet kubelet(host_.plugins());
  kubelet.start();
  std::vector<std::string> flags = base_flags();
  flags[1] = "--device-root=" + (host_ / "no-dev").string();
  Plugin plugin(host_.root(), flags);
  ASSERT_TRUE(kubelet.wait_for_registration(1, 30s).has_value()) << plugin.err();
  EXPECT_EQ(first_list(kubelet).devices_size(), 0);
  plugin.signal(SIGTERM);
  EXPECT_EQ(plugin.wait(), 0);
  EXPECT_THAT(plugin.err(), HasSubstr("cannot read device root"));
}

}  // namespace
}  // namespace ascend::plugin
