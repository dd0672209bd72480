#include "kube/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace ascend::kube {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kube-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << content;
    return p.string();
  }
  fs::path dir_;
};

constexpr const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
- name: other
  cluster:
    server: https://10.0.0.1:443
    certificate-authority-data: Q0EgREFUQQ==
    insecure-skip-tls-verify: true
contexts:
- name: admin
  context: {cluster: local, user: admin, namespace: team-a}
- name: sa
  context: {cluster: other, user: sa}
users:
- name: admin
  user:
    client-certificate: certs/admin.crt
    client-key-data: S0VZ
- name: sa
  user:
    tokenFile: token
)";

TEST_F(ConfigTest, CurrentContextWithFilesRelativeToTheKubeconfig) {
  write("ca.crt", "CA PEM");
  fs::create_directories(dir_ / "certs");
  write("certs/admin.crt", "CERT PEM");
  const std::string path = write("config", kTwoContexts);
  auto c = load_kubeconfig(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c.value().server, "https://127.0.0.1:6443");
  EXPECT_EQ(c.value().ca_pem, "CA PEM");
  EXPECT_EQ(c.value().client_cert_pem, "CERT PEM");
  EXPECT_EQ(c.value().client_key_pem, "KEY");
  EXPECT_EQ(c.value().default_namespace, "team-a");
  EXPECT_FALSE(c.value().insecure_skip_tls_verify);
  auto token = c.value().bearer_token();
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(token.value().has_value());
}

TEST_F(ConfigTest, NamedContextWithTokenFileAndInsecureOnlyWhenSaid) {
  write("ca.crt", "CA PEM");
  write("token", "tok-1\n");
  const std::string path = write("config", kTwoContexts);
  auto c = load_kubeconfig(path, "sa");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c.value().server, "https://10.0.0.1:443");
  EXPECT_EQ(c.value().ca_pem, "CA DATA");
  EXPECT_TRUE(c.value().insecure_skip_tls_verify);
  EXPECT_EQ(c.value().default_namespace, "default");
  EXPECT_EQ(c.value().bearer_token().value().value(), "tok-1");
}

TEST_F(ConfigTest, ErrorsNameTheFileAndTheField) {
  auto missing = load_kubeconfig((dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find((dir_ / "nope").string()), std::string::npos);
  EXPECT_EQ(missing.error().reason, "InvalidConfig");

  const std::string bad_yaml = write("bad", "clusters: [unclosed\n");
  auto b = load_kubeconfig(bad_yaml);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("not valid YAML"), std::string::npos);

  const std::string path = write("config", kTwoContexts);
  auto no_ctx = load_kubeconfig(path, "ghost");
  ASSERT_FALSE(no_ctx.ok());
  EXPECT_NE(no_ctx.error().message.find("no context named \"ghost\""), std::string::npos);

  // ca.crt is not there.
  auto no_ca = load_kubeconfig(path);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.error().message.find("clusters[name=local].cluster.certificate-authority"),
            std::string::npos)
      << no_ca.error().message;
  EXPECT_EQ(no_ca.error().message.find('\n'), std::string::npos);

  const std::string b64 = write("b64", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://h", certificate-authority-data: "!!!"}}]
users: [{name: u, user: {}}]
)");
  auto bad_data = load_kubeconfig(b64);
  ASSERT_FALSE(bad_data.ok());
  EXPECT_NE(bad_data.error().message.find("certificate-authority-data: not valid base64"),
            std::string::npos)
      << bad_data.error().message;
}

TEST_F(ConfigTest, ADirectoryIsAnErrorNotACrash) {
  // A directory as the kubeconfig threw std::ios_base::failure out of yaml-cpp (exit 134).
  fs::create_directories(dir_ / "kubeconfig.d");
  auto dir = load_kubeconfig((dir_ / "kubeconfig.d").string());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().reason, "InvalidConfig");
  EXPECT_NE(dir.error().message.find("is a directory"), std::string::npos) << dir.error().message;

  // A certificate authority that is a directory names the field.
  fs::create_directories(dir_ / "ca.crt");
  const std::string path = write("config", kTwoContexts);
  auto ca_dir = load_kubeconfig(path);
  ASSERT_FALSE(ca_dir.ok());
  EXPECT_NE(ca_dir.error().message.find("certificate-authority: cannot read"), std::string::npos)
      << ca_dir.error().message;
  EXPECT_NE(ca_dir.error().message.find("is a directory"), std::string::npos)
      << ca_dir.error().message;
}

TEST_F(ConfigTest, ExecPluginIsPlainlyUnsupported) {
  const std::string path = write("config", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: eks}}]
clusters: [{name: k, cluster: {server: "https://h"}}]
users:
- name: eks
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}
)");
  auto c = load_kubeconfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("users[name=eks].user.exec"), std::string::npos);
  EXPECT_NE(c.error().message.find("not supported"), std::string::npos);
}

TEST_F(ConfigTest, InClusterWithIpv6AndNamespace) {
  write("ca.crt", "CLUSTER CA");
  write("token", "sa-token\n");
  write("namespace", "ascend-system\n");
  std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                                             {"KUBERNETES_SERVICE_PORT", "443"}};
  auto env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto c = load_in_cluster(env, dir_.string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c.value().server, "https://[fd00::1]:443");
  EXPECT_EQ(c.value().ca_pem, "CLUSTER CA");
  EXPECT_EQ(c.value().default_namespace, "ascend-system");
  EXPECT_EQ(c.value().bearer_token().value().value(), "sa-token");

  vars["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  EXPECT_EQ(load_in_cluster(env, dir_.string()).value().server, "https://10.96.0.1:443");

  vars.clear();
  auto outside = load_in_cluster(env, dir_.string());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST_F(ConfigTest, TokenFileIsReReadAfterTheRefreshInterval) {
  const std::string path = write("token", "first");
  auto clock = std::make_shared<FakeClock>();
  TokenFile token(path, std::chrono::minutes(1), clock);
  EXPECT_EQ(token.token().value(), "first");
  write("token", "second");
  EXPECT_EQ(token.token().value(), "first");  // cached
  clock->advance(std::chrono::seconds(61));
  EXPECT_EQ(token.token().value(), "second");
  fs::remove(path);  // mid-rotation: keep the last good token
  clock->advance(std::chrono::seconds(61));
  EXPECT_EQ(token.token().value(), "second");

  TokenFile absent((dir_ / "absent").string(), std::chrono::minutes(1), clock);
  EXPECT_FALSE(absent.token().ok());
}

TEST_F(ConfigTest, DefaultSearchOrder) {
  write("ca.crt", "CA");
  fs::create_directories(dir_ / "certs");
  write("certs/admin.crt", "CERT");
  const std::string path = write("config", kTwoContexts);
  std::map<std::string, std::string> vars = {{"KUBECONFIG", path + ":/other"}};
  auto env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto c = load_default_config("", "", env);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c.value().server, "https://127.0.0.1:6443");
  vars.clear();
  EXPECT_FALSE(load_default_config("", "", env).ok());
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(decode_base64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8").value(), "hello");
  EXPECT_EQ(decode_base64("aGVs\nbG8=").value(), "hello");
  EXPECT_FALSE(decode_base64("a*b").has_value());
}

}  // namespace
}  // namespace ascend::kube
