#include "plugin/config.hpp"

#include <gtest/gtest.h>

#include <map>

#include "kube/testing/temp_dir.hpp"

namespace ascend::plugin {
namespace {

using kube::testing::TempDir;
using kube::testing::write_file;

struct Env {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      const auto it = vars.find(name);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }
};

ConfigLoad load_with(const std::vector<std::string>& args, const Env& env = {}) {
  std::vector<const char*> argv = {"ascend-device-plugin"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  return load_config(static_cast<int>(argv.size()), argv.data(), env.lookup());
}

TEST(Config, DefaultsMatchTheContract) {
  const ConfigLoad load = load_with({});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  const PluginConfig& c = load.config;
  EXPECT_EQ(c.socket_dir, "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(c.socket_name, "Ascend910.sock");
  EXPECT_EQ(c.kubelet_socket, "kubelet.sock");
  EXPECT_EQ(c.resource_name, "huawei.com/Ascend910");
  EXPECT_EQ(c.device_root, "/dev");
  EXPECT_EQ(c.discovery, DiscoveryMode::kAuto);
  EXPECT_EQ(c.health_interval, std::chrono::seconds(5));
  EXPECT_FALSE(c.chip_model.has_value());
  EXPECT_FALSE(c.topology.has_value());
  EXPECT_FALSE(c.ascend_runtime);
  ASSERT_EQ(c.driver_mounts.size(), 5U);
  EXPECT_EQ(c.driver_mounts[0].host_path, "/usr/local/Ascend/driver");
  EXPECT_EQ(c.driver_lib_dirs.size(), 3U);
}

TEST(Config, FlagsSetEveryKind) {
  const ConfigLoad load = load_with(
      {"--socket-dir=/tmp/dp", "--health-interval", "500ms", "--discovery", "devfs", "--chip-model",
       "910A", "--topology", "box16", "--container-runtime", "ascend", "--driver-mounts",
       "/a,/b:/c", "--allow-regular-device-files", "--http-address", "off"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  const PluginConfig& c = load.config;
  EXPECT_EQ(c.socket_dir, "/tmp/dp");
  EXPECT_EQ(c.health_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(c.discovery, DiscoveryMode::kDevfs);
  EXPECT_EQ(c.chip_model, ChipModel::k910A);
  EXPECT_EQ(c.topology, TopologyKind::kBox16);
  EXPECT_TRUE(c.ascend_runtime);
  ASSERT_EQ(c.driver_mounts.size(), 2U);
  EXPECT_EQ(c.driver_mounts[1], (HostMount{"/c", "/b", true}));
  EXPECT_TRUE(c.allow_regular_device_files);
  EXPECT_TRUE(c.http_address.empty());
}

TEST(Config, DcmiFaultCodesReplaceTheBuiltInLists) {
  const ConfigLoad defaults = load_with({});
  ASSERT_EQ(defaults.exit_code, -1) << defaults.message;
  EXPECT_EQ(defaults.config.dcmi_faults, DcmiFaultTable::defaults());

  TempDir dir;
  write_file(dir / "c.yaml", "dcmi-critical-codes: [80E21007, 0x80cb8009]\n");
  const ConfigLoad load =
      load_with({"--config", (dir / "c.yaml").string(), "--dcmi-warning-codes", "0x80E01801"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  const DcmiFaultTable& table = load.config.dcmi_faults;
  EXPECT_EQ(table.codes(FaultSeverity::kWarning), (std::vector<unsigned int>{0x80E01801}));
  EXPECT_EQ(table.codes(FaultSeverity::kCritical),
            (std::vector<unsigned int>{0x80CB8009, 0x80E21007}));

  Env empty;  // both lists emptied: the health value alone decides
  empty.vars["ASCEND_DP_DCMI_WARNING_CODES"] = "";
  empty.vars["ASCEND_DP_DCMI_CRITICAL_CODES"] = "";
  const ConfigLoad none = load_with({}, empty);
  ASSERT_EQ(none.exit_code, -1) << none.message;
  EXPECT_EQ(none.config.dcmi_faults, DcmiFaultTable());
}

TEST(Config, KeyWithEqualsAndNothingIsTheEmptyValue) {
  // As a manifest writes it: the flag after an empty one is not taken as its value.
  const ConfigLoad load = load_with(
      {"--dcmi-warning-codes=", "--dcmi-critical-codes=", "--driver-mounts=", "--log-level=debug"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_EQ(load.config.dcmi_faults, DcmiFaultTable());
  EXPECT_TRUE(load.config.driver_mounts.empty());
  EXPECT_EQ(load.config.log_level, "debug");
}

TEST(Config, PrecedenceIsFlagThenEnvThenFileThenDefault) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "socket-name: file.sock\n"
             "resource-name: example.com/file\n"
             "log-level: debug\n"
             "driver-lib-dirs: [/x, /y]\n");
  Env env;
  env.vars["ASCEND_DP_CONFIG"] = (dir / "c.yaml").string();
  env.vars["ASCEND_DP_RESOURCE_NAME"] = "example.com/env";
  env.vars["ASCEND_DP_LOG_LEVEL"] = "warn";
  const ConfigLoad load = load_with({"--log-level", "error"}, env);
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_EQ(load.config.socket_name, "file.sock");          // file
  EXPECT_EQ(load.config.resource_name, "example.com/env");  // env over file
  EXPECT_EQ(load.config.log_level, "error");                // flag over env
  EXPECT_EQ(load.config.kubelet_socket, "kubelet.sock");    // default
  ASSERT_EQ(load.config.driver_lib_dirs.size(), 2U);        // YAML list
  EXPECT_EQ(load.config.driver_lib_dirs[1], "/y");
  EXPECT_EQ(load.config.config_file, dir / "c.yaml");
}

TEST(Config, HelpExplainsEveryFlagAndExitsZero) {
  const ConfigLoad load = load_with({"--help"});
  EXPECT_EQ(load.exit_code, 0);
  for (const char* flag : {"--socket-dir", "--device-root", "--discovery", "--health-interval",
                           "--driver-mounts", "--container-runtime", "--config",
                           "ASCEND_DP_SOCKET_DIR", "--dcmi-warning-codes", "80E21007"}) {
    EXPECT_NE(load.message.find(flag), std::string::npos) << flag;
  }
}

// Every bad input: exit code 2 and one line that names the key and the source.
struct BadCase {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string expected;  // a piece of the message
};

TEST(Config, BadInputIsOneClearLine) {
  const std::vector<BadCase> cases = {
      {{"--no-such-flag"}, {}, "--no-such-flag"},
      {{"--health-interval", "5x"}, {}, "health-interval=\"5x\" (from flag --health-interval)"},
      {{"--health-interval", "10ms"}, {}, "100ms to 30m"},
      {{"--discovery", "nvml"}, {}, "accepted: auto, dcmi, devfs"},
      {{"--socket-dir", "relative/dir"}, {}, "absolute path"},
      {{"--socket-name", "a/b.sock"}, {}, "plain file name"},
      {{"--socket-name", "kubelet.sock"}, {}, "must differ"},
      {{"--resource-name", "Ascend910"}, {}, "<vendor domain>/<name>"},
      {{"--topology", "ring"}, {}, "910a-ring4"},
      {{"--chip-model", "H100"}, {}, "910B"},
      {{"--driver-mounts", "relative"}, {}, "driver-mounts"},
      {{"--http-address", "localhost"}, {}, "host:port"},
      // A name passed validation, then the plugin ran without /healthz.
      {{"--http-address", "localhost:9110"}, {}, "numeric IP address"},
      {{"--dcmi-warning-codes", "80E2100Z"}, {}, "\"80E2100Z\" is not a fault code"},
      {{"--dcmi-critical-codes", "80E21007"}, {}, "0x80E21007 is also in --dcmi-warning-codes"},
      {{"--socket-dir", "/" + std::string(120, 'd')}, {}, "unix socket limit"},
      {{}, {{"ASCEND_DP_HEALTH_INTERVAL", "soon"}}, "from env ASCEND_DP_HEALTH_INTERVAL"},
      {{}, {{"ASCEND_DP_ALLOW_REGULAR_DEVICE_FILES", "maybe"}}, "true, false"},
      {{"--pod-resources-socket", "kubelet.sock"}, {}, "pod-resources-socket"},
      {{"--annotate-faults=true"}, {}, "node-name=\"\" (from default) is invalid: required"},
      {{}, {{"ASCEND_DP_ANNOTATE_FAULTS", "yes"}}, "annotate-faults"},
  };
  for (const BadCase& c : cases) {
    Env env;
    env.vars = c.env;
    const ConfigLoad load = load_with(c.args, env);
    EXPECT_EQ(load.exit_code, 2) << c.expected;
    EXPECT_NE(load.message.find(c.expected), std::string::npos) << load.message;
    EXPECT_EQ(load.message.find('\n'), std::string::npos) << load.message;
    EXPECT_TRUE(load.message.starts_with("ascend-device-plugin: ")) << load.message;
  }
}

TEST(Config, FaultAnnotationsNeedTheNodeName) {
  const ConfigLoad off = load_with({});
  ASSERT_EQ(off.exit_code, -1) << off.message;
  EXPECT_FALSE(off.config.annotate_faults);
  EXPECT_EQ(off.config.pod_resources_socket, "/var/lib/kubelet/pod-resources/kubelet.sock");
  Env env;
  env.vars = {{"ASCEND_DP_NODE_NAME", "node-a"}};
  const ConfigLoad on =
      load_with({"--annotate-faults=true", "--pod-resources-socket", "/k/pr.sock"}, env);
  ASSERT_EQ(on.exit_code, -1) << on.message;
  EXPECT_TRUE(on.config.annotate_faults);
  EXPECT_EQ(on.config.node_name, "node-a");
  EXPECT_EQ(on.config.pod_resources_socket, "/k/pr.sock");
  EXPECT_EQ(on.config.kubeconfig, "");
}

TEST(Config, BadFilesAreOneClearLine) {
  TempDir dir;
  write_file(dir / "broken.yaml", "socket-dir: [unclosed\n");
  write_file(dir / "typo.yaml", "socket-dri: /x\n");
  write_file(dir / "list.yaml", "- a\n- b\n");
  write_file(dir / "nested.yaml", "socket-dir: {a: b}\n");
  write_file(dir / "bad-value.yaml", "health-interval: forever\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"broken.yaml", "not valid YAML"},
      {"typo.yaml", "unknown key \"socket-dri\""},
      {"list.yaml", "must be a mapping"},
      {"nested.yaml", "must be a scalar"},
      {"bad-value.yaml", "(from file "},
      {"missing.yaml", "cannot be read"},
      // A directory threw std::ios_base::failure out of yaml-cpp (exit 134).
      {"conf.d", "is a directory"},
  };
  std::filesystem::create_directories(dir / "conf.d");
  for (const auto& [file, expected] : cases) {
    const ConfigLoad load = load_with({"--config", (dir / file).string()});
    EXPECT_EQ(load.exit_code, 2) << file;
    EXPECT_NE(load.message.find(expected), std::string::npos) << load.message;
    EXPECT_EQ(load.message.find('\n'), std::string::npos) << load.message;
  }
}

TEST(Config, HttpAddressGivesTheHostAndPortToServe) {
  // ":0" passed validation and then served nothing (an empty host is no address to bind).
  ConfigLoad load = load_with({"--http-address", ":0"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_EQ(load.config.http_host, "0.0.0.0");
  EXPECT_EQ(load.config.http_port, 0);
  load = load_with({"--http-address", "[::1]:9110"});
  ASSERT_EQ(load.exit_code, -1) << load.message;
  EXPECT_EQ(load.config.http_host, "::1");
  EXPECT_EQ(load.config.http_port, 9110);
}

TEST(Config, EmptyFileIsEmptyConfig) {
  TempDir dir;
  write_file(dir / "empty.yaml", "");
  const ConfigLoad load = load_with({"--config", (dir / "empty.yaml").string()});
  EXPECT_EQ(load.exit_code, -1) << load.message;
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration("5s"), std::chrono::seconds(5));
  EXPECT_EQ(parse_duration("1.5"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_FALSE(parse_duration("").has_value());
  EXPECT_FALSE(parse_duration("s").has_value());
  EXPECT_FALSE(parse_duration("-1s").has_value());
  EXPECT_FALSE(parse_duration("1h").has_value());
}

}  // namespace
}  // namespace ascend::plugin
