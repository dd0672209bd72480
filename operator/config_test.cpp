#include "operator/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace ascend::op {
namespace {

ConfigLoad run(const std::vector<const char*>& args) {
  std::vector<const char*> argv(args.size() + 1, "llamafactory-operator");
  std::copy(args.begin(), args.end(), argv.begin() + 1);
  return load_config(static_cast<int>(argv.size()), argv.data());
}

TEST(Config, Defaults) {
  const ConfigLoad load = run({});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  const OperatorConfig& c = load.config;
  EXPECT_EQ(c.watch_namespace, "");
  EXPECT_TRUE(c.leader_elect);
  EXPECT_EQ(c.lease_name, "llamafactory-operator");
  EXPECT_EQ(c.metrics_address, ":8080");
  EXPECT_EQ(c.health_address, ":8081");
  EXPECT_DOUBLE_EQ(c.kube_api_qps, 100);
  EXPECT_EQ(c.kube_api_burst, 200);
  EXPECT_EQ(c.workers, 16);
  EXPECT_FALSE(c.default_image.empty());
  EXPECT_EQ(c.startup_taint, "startup-taint.cluster-autoscaler.kubernetes.io/ascend-npu");
}

TEST(Config, AutoscalerEventsDefaultToBothAndCanBeNarrowedOrTurnedOff) {
  EXPECT_EQ(run({}).config.autoscaler_events,
            (std::vector<std::string>{"cluster-autoscaler", "karpenter"}));
  EXPECT_EQ(run({"--autoscaler-events", "karpenter"}).config.autoscaler_events,
            std::vector<std::string>{"karpenter"});
  EXPECT_EQ(run({"--autoscaler-events=cluster-autoscaler,karpenter"}).config.autoscaler_events,
            (std::vector<std::string>{"cluster-autoscaler", "karpenter"}));
  const ConfigLoad off = run({"--autoscaler-events="});
  ASSERT_EQ(off.exit_code, -1) << off.message;
  EXPECT_TRUE(off.config.autoscaler_events.empty());
  const ConfigLoad bad = run({"--autoscaler-events", "karpenter,yunikorn"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.message.find("--autoscaler-events: 'yunikorn'"), std::string::npos) << bad.message;
}

TEST(Config, StartupTaintCanBeTurnedOff) {
  for (const auto& args : {std::vector<const char*>{"--startup-taint="},
                           std::vector<const char*>{"--startup-taint", ""}}) {
    const ConfigLoad load = run(args);
    ASSERT_EQ(load.exit_code, -1) << load.message;
    EXPECT_EQ(load.config.startup_taint, "");
  }
  EXPECT_EQ(run({"--startup-taint", "example.com/npu-not-ready"}).config.startup_taint,
            "example.com/npu-not-ready");
  // `--flag=` is the empty value, not a flag that takes the next argument.
  const ConfigLoad load = run({"--metrics-address=", "--workers", "3"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_EQ(load.config.metrics_address, "");
  EXPECT_EQ(load.config.workers, 3);
}

TEST(Config, ReadsEveryFlag) {
  const ConfigLoad load = run({"--kubeconfig",
                               "/k",
                               "--context",
                               "c",
                               "--namespace",
                               "team",
                               "--default-image",
                               "img:2",
                               "--metrics-address",
                               "127.0.0.1:9000",
                               "--health-address",
                               "[::1]:9001",
                               "--leader-elect=false",
                               "--leader-election-id",
                               "lease",
                               "--leader-election-namespace",
                               "ops",
                               "--identity",
                               "me",
                               "--kube-api-qps",
                               "50",
                               "--kube-api-burst",
                               "100",
                               "--workers",
                               "8",
                               "--log-level",
                               "debug",
                               "--log-format",
                               "json"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  const OperatorConfig& c = load.config;
  EXPECT_EQ(c.kubeconfig, "/k");
  EXPECT_EQ(c.context, "c");
  EXPECT_EQ(c.watch_namespace, "team");
  EXPECT_EQ(c.default_image, "img:2");
  EXPECT_EQ(c.metrics_address, "127.0.0.1:9000");
  EXPECT_EQ(c.health_address, "[::1]:9001");
  EXPECT_FALSE(c.leader_elect);
  EXPECT_EQ(c.lease_name, "lease");
  EXPECT_EQ(c.lease_namespace, "ops");
  EXPECT_EQ(c.identity, "me");
  EXPECT_DOUBLE_EQ(c.kube_api_qps, 50);
  EXPECT_EQ(c.kube_api_burst, 100);
  EXPECT_EQ(c.workers, 8);
  EXPECT_EQ(c.log_format, "json");
}

TEST(Config, HelpExplainsEveryFlag) {
  const ConfigLoad load = run({"--help"});
  EXPECT_EQ(load.exit_code, 0);
  for (const char* flag : {"--kubeconfig", "--namespace", "--default-image", "--metrics-address",
                           "--health-address", "--leader-elect", "--leader-election-id",
                           "--kube-api-qps", "--kube-api-burst", "--workers", "--startup-taint"}) {
    EXPECT_NE(load.message.find(flag), std::string::npos) << flag;
  }
}

TEST(Config, HelpSizesTheRateByTheBenchsWritesPerJob) {
  // bench/README.md measured 8.03 writes per single-rank job (2 of them Events).
  const std::string help = run({"--help"}).message;
  EXPECT_NE(help.find("about 8 writes"), std::string::npos) << help;
  EXPECT_EQ(help.find("6.5"), std::string::npos) << help;
}

TEST(Config, BadFlagsStopWithAMessage) {
  struct Case {
    std::vector<const char*> args;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--workers", "0"}, "--workers"},
      {{"--workers", "many"}, "--workers"},
      {{"--kube-api-qps", "-1"}, "--kube-api-qps"},
      {{"--kube-api-qps", "nan"}, "--kube-api-qps"},
      {{"--kube-api-qps", "inf"}, "--kube-api-qps"},
      {{"--metrics-address", "8080"}, "--metrics-address: address \"8080\": no port"},
      {{"--health-address", "host:99999"}, "--health-address"},
      {{"--health-address", "::1:80"}, "IPv6 hosts need brackets"},
      {{"--leader-elect", "maybe"}, "--leader-elect"},
      {{"--default-image", ""}, "--default-image must not be empty"},
      {{"--log-level", "loud"}, "loud"},
  };
  for (const auto& c : cases) {
    const ConfigLoad load = run(c.args);
    EXPECT_EQ(load.exit_code, 2) << c.args[0];
    EXPECT_NE(load.message.find(c.says), std::string::npos) << load.message;
    EXPECT_EQ(load.message.find('\n'), std::string::npos) << "one line: " << load.message;
  }
}

TEST(Config, ParseAddress) {
  auto a = parse_address(":8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().host, "");
  EXPECT_EQ(a.value().port, 8080);
  a = parse_address("[::]:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().host, "::");
  EXPECT_EQ(a.value().port, 0);
  EXPECT_FALSE(parse_address("127.0.0.1:").ok());
  EXPECT_FALSE(parse_address("127.0.0.1:-1").ok());
}

}  // namespace
}  // namespace ascend::op

namespace ascend::op {
namespace {

TEST(Config, ProgressServerFlags) {
  ConfigLoad load = run({});
  EXPECT_FALSE(load.config.progress_enabled()) << "off without a certificate";
  EXPECT_EQ(load.config.progress_interval_seconds, 30);
  load = run({"--progress-cert-file", "/tls/tls.crt", "--progress-key-file", "/tls/tls.key",
              "--progress-url", "https://op.ns.svc:9443/v1/progress", "--progress-interval", "10"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_TRUE(load.config.progress_enabled());
  EXPECT_EQ(load.config.progress_ca_file, "/tls/tls.crt") << "the certificate, by default";
  EXPECT_EQ(load.config.progress_interval_seconds, 10);

  load = run({"--progress-cert-file", "/tls/tls.crt"});
  EXPECT_EQ(load.exit_code, 2);
  EXPECT_NE(load.message.find("--progress-key-file"), std::string::npos) << load.message;
  load = run({"--progress-cert-file", "/c", "--progress-key-file", "/k", "--progress-url",
              "http://op:9443/v1/progress"});
  EXPECT_EQ(load.exit_code, 2);
  EXPECT_NE(load.message.find("--progress-url"), std::string::npos) << load.message;
  load = run({"--progress-interval", "0"});
  EXPECT_EQ(load.exit_code, 2);
  EXPECT_NE(load.message.find("--progress-interval"), std::string::npos) << load.message;
}

}  // namespace
}  // namespace ascend::op
