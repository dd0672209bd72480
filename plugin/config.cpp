#include "plugin/config.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>
#include <utility>

#include "kube/program.hpp"
#include "plugin/comma_list.hpp"

namespace ascend::plugin {
namespace {

constexpr const char* kProgram = "ascend-device-plugin";
constexpr std::size_t kMaxUnixPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr std::chrono::milliseconds kMinInterval{100};
constexpr std::chrono::milliseconds kMaxInterval{1800 * 1000};

enum class Kind { kText, kList, kBool };

// One configuration key: its flag is --<name>, its variable ASCEND_DP_<NAME>, its YAML key <name>.
struct Key {
  std::string name;
  Kind kind;
  std::string fallback;  // the default, as text
  std::string help;
};

// A value and where it came from, for error messages.
struct Raw {
  std::string text;
  std::string source;
};

std::string env_name(const std::string& key) {
  std::string out = "ASCEND_DP_";
  for (char c : key)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

std::string mount_text(const HostMount& m) {
  return m.host_path == m.container_path ? m.host_path : m.host_path + ":" + m.container_path;
}

std::string codes_text(const std::vector<unsigned int>& codes) {
  return join(codes, [](unsigned int code) { return fault_code_text(code).substr(2); });
}

std::vector<Key> all_keys() {
  const PluginConfig d;
  std::vector<std::string> libs;
  for (const auto& p : d.driver_lib_dirs)
    libs.push_back(p.string());
  std::vector<std::string> mounts;
  for (const auto& m : d.driver_mounts)
    mounts.push_back(mount_text(m));
  return {
      {"socket-dir", Kind::kText, d.socket_dir.string(),
       "Kubelet device-plugin directory holding the kubelet's socket and ours"},
      {"kubelet-socket", Kind::kText, d.kubelet_socket,
       "File name of the kubelet's Registration socket inside --socket-dir"},
      {"socket-name", Kind::kText, d.socket_name,
       "File name of this plugin's socket inside --socket-dir"},
      {"resource-name", Kind::kText, d.resource_name,
       "Extended resource advertised to the kubelet (<domain>/<name>)"},
      {"device-root", Kind::kText, d.device_root.string(),
       "Host directory holding davinci<N>, davinci_manager, devmm_svm, hisi_hdc; scanned, "
       "watched and used as the host path of device specs"},
      {"discovery", Kind::kText, "auto",
       "Chip discovery: auto (DCMI if libdcmi.so loads, else device files), dcmi, devfs"},
      {"driver-lib-dirs", Kind::kList, join(libs),
       "Comma-separated directories searched for libdcmi.so before the linker's own search"},
      {"chip-model", Kind::kText, "auto",
       "Chip model when discovery cannot tell: auto, 910A, 910B, 910A3"},
      {"topology", Kind::kText, "auto",
       "HCCS layout: auto (from chip model and count), flat, 910a-ring4, 910b-module8, box16"},
      {"health-interval", Kind::kText, "5s",
       "Health polling interval (100ms..30m; e.g. 5s, 500ms); vanished device nodes are seen "
       "at once through inotify regardless"},
      {"dcmi-warning-codes", Kind::kList, codes_text(d.dcmi_faults.codes(FaultSeverity::kWarning)),
       "Comma-separated DCMI fault codes (hex, as npu-smi shows them) that are logged and "
       "exported but leave the chip Healthy; replaces the built-in list"},
      {"dcmi-critical-codes", Kind::kList,
       codes_text(d.dcmi_faults.codes(FaultSeverity::kCritical)),
       "Comma-separated DCMI fault codes that make the chip Unhealthy whatever its alarm level; "
       "replaces the built-in list. Codes in neither list leave it to the health value: minor "
       "alarms Healthy, major and critical ones Unhealthy"},
      {"container-runtime", Kind::kText, "default",
       "default: Allocate returns devices, driver mounts and env; ascend: the Ascend container "
       "runtime adds devices and mounts itself, so only env is returned"},
      {"driver-mounts", Kind::kList, join(mounts),
       "Comma-separated read-only mounts added when present on the host: /path or "
       "/host/path:/container/path; empty for none"},
      {"shared-devices", Kind::kList, join(d.shared_devices),
       "Comma-separated shared device nodes under --device-root given to every container "
       "when present"},
      {"allow-regular-device-files", Kind::kBool, "false",
       "Accept regular files as device nodes (test beds without real chips only)"},
      {"log-level", Kind::kText, d.log_level, "Log level: trace, debug, info, warn, error"},
      {"http-address", Kind::kText, d.http_address,
       "host:port serving /healthz and /metrics; \"off\" (or empty) disables"},
      {"pod-resources-socket", Kind::kText, d.pod_resources_socket.string(),
       "The kubelet's PodResources v1 socket, asked which Pod holds a chip that went Unhealthy"},
      {"annotate-faults", Kind::kBool, "false",
       "Annotate the Pod holding a chip that went Unhealthy (ascendfactory.io/npu-fault) so "
       "that its job restarts off the chip; needs --node-name and API access (in-cluster "
       "ServiceAccount or --kubeconfig). Off: the fault and its Pod are only logged"},
      {"node-name", Kind::kText, "",
       "This node's name (from the downward API's spec.nodeName), written into fault annotations"},
      {"kubeconfig", Kind::kText, "",
       "kubeconfig for --annotate-faults; empty: the Pod's in-cluster ServiceAccount"},
  };
}

// Converts the merged text values into the typed config. Every error names the value's source.
std::optional<std::string> convert(const std::map<std::string, Raw>& raw, PluginConfig& c) {
  auto bad = [&](const std::string& key, const std::string& accepted) {
    const Raw& r = raw.at(key);
    return key + "=\"" + r.text + "\" (from " + r.source + ") is invalid: " + accepted;
  };
  auto text = [&](const std::string& key) -> const std::string& { return raw.at(key).text; };

  c.socket_dir = text("socket-dir");
  if (!c.socket_dir.is_absolute()) return bad("socket-dir", "need an absolute path");
  for (const char* key : {"kubelet-socket", "socket-name"}) {
    const std::string& name = text(key);
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return bad(key, "need a plain file name");
    }
  }
  c.kubelet_socket = text("kubelet-socket");
  c.socket_name = text("socket-name");
  if (c.kubelet_socket == c.socket_name) {
    return bad("socket-name", "must differ from --kubelet-socket");
  }
  for (const std::string& name : {c.kubelet_socket, c.socket_name}) {
    if ((c.socket_dir / name).string().size() > kMaxUnixPath) {
      return bad("socket-dir", "socket path " + (c.socket_dir / name).string() +
                                   " is longer than " + std::to_string(kMaxUnixPath) +
                                   " bytes, the unix socket limit");
    }
  }
  c.resource_name = text("resource-name");
  const auto slash = c.resource_name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == c.resource_name.size() ||
      c.resource_name.find('/', slash + 1) != std::string::npos ||
      c.resource_name.starts_with("kubernetes.io/")) {
    return bad("resource-name", "need <vendor domain>/<name>, e.g. huawei.com/Ascend910");
  }
  c.device_root = text("device-root");
  if (!c.device_root.is_absolute()) return bad("device-root", "need an absolute path");

  const std::string& discovery = text("discovery");
  if (discovery == "auto") {
    c.discovery = DiscoveryMode::kAuto;
  } else if (discovery == "dcmi") {
    c.discovery = DiscoveryMode::kDcmi;
  } else if (discovery == "devfs") {
    c.discovery = DiscoveryMode::kDevfs;
  } else {
    return bad("discovery", "accepted: auto, dcmi, devfs");
  }
  c.driver_lib_dirs.clear();
  for (const auto& dir : split(text("driver-lib-dirs")))
    c.driver_lib_dirs.emplace_back(dir);

  if (text("chip-model") == "auto") {
    c.chip_model.reset();
  } else if (const auto model = parse_chip_model(text("chip-model"))) {
    c.chip_model = *model;
  } else {
    return bad("chip-model", "accepted: auto, 910A, 910B, 910A3");
  }
  if (text("topology") == "auto") {
    c.topology.reset();
  } else if (const auto topology = parse_topology_kind(text("topology"))) {
    c.topology = *topology;
  } else {
    return bad("topology", "accepted: auto, flat, 910a-ring4, 910b-module8, box16");
  }

  const auto interval = parse_duration(text("health-interval"));
  if (!interval || *interval < kMinInterval || *interval > kMaxInterval) {
    return bad("health-interval", "need a duration from 100ms to 30m, e.g. 5s");
  }
  c.health_interval = *interval;

  c.dcmi_faults = DcmiFaultTable();
  for (const auto& [key, severity] : {std::pair{"dcmi-warning-codes", FaultSeverity::kWarning},
                                      std::pair{"dcmi-critical-codes", FaultSeverity::kCritical}}) {
    for (const auto& item : split(text(key))) {
      const auto code = parse_fault_code(item);
      if (!code) return bad(key, "\"" + item + "\" is not a fault code (up to 8 hex digits)");
      const FaultSeverity listed = c.dcmi_faults.classify(*code);
      if (listed != FaultSeverity::kUnknown && listed != severity) {
        return bad(key, fault_code_text(*code) + " is also in --dcmi-warning-codes");
      }
      c.dcmi_faults.set(*code, severity);
    }
  }

  const std::string& runtime = text("container-runtime");
  if (runtime != "default" && runtime != "ascend") {
    return bad("container-runtime", "accepted: default, ascend");
  }
  c.ascend_runtime = runtime == "ascend";

  c.driver_mounts.clear();
  for (const auto& item : split(text("driver-mounts"))) {
    auto mount = parse_mount(item);
    if (!mount.ok()) return bad("driver-mounts", mount.error().message);
    c.driver_mounts.push_back(mount.value());
  }
  c.shared_devices = split(text("shared-devices"));
  for (const auto& name : c.shared_devices) {
    if (name.find('/') != std::string::npos) {
      return bad("shared-devices", "need file names under --device-root");
    }
  }

  const std::string& regular = text("allow-regular-device-files");
  if (regular != "true" && regular != "false") {
    return bad("allow-regular-device-files", "accepted: true, false");
  }
  c.allow_regular_device_files = regular == "true";

  c.pod_resources_socket = text("pod-resources-socket");
  if (!c.pod_resources_socket.is_absolute()) {
    return bad("pod-resources-socket", "need an absolute path");
  }
  const std::string& annotate = text("annotate-faults");
  if (annotate != "true" && annotate != "false") {
    return bad("annotate-faults", "accepted: true, false");
  }
  c.annotate_faults = annotate == "true";
  c.node_name = text("node-name");
  c.kubeconfig = text("kubeconfig");
  if (c.annotate_faults && c.node_name.empty()) {
    return bad("node-name",
               "required with --annotate-faults=true (set it from the downward "
               "API's spec.nodeName, env ASCEND_DP_NODE_NAME)");
  }

  c.log_level = text("log-level");
  const std::vector<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end()) {
    return bad("log-level", "accepted: trace, debug, info, warn, error");
  }
  c.http_address = text("http-address");
  if (c.http_address == "off") c.http_address.clear();
  if (!c.http_address.empty()) {
    const auto colon = c.http_address.rfind(':');
    int port = -1;
    const std::string digits = colon == std::string::npos ? "" : c.http_address.substr(colon + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || port < 0 ||
        port > 65535) {
      return bad("http-address", "need host:port, e.g. 0.0.0.0:9110, or off");
    }
    std::string host = c.http_address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) host = "0.0.0.0";  // ":9110" means every address, as in Go programs
    in6_addr any{};
    if (::inet_pton(AF_INET, host.c_str(), &any) != 1 &&
        ::inet_pton(AF_INET6, host.c_str(), &any) != 1) {
      return bad("http-address", "the host must be a numeric IP address, e.g. 0.0.0.0:9110");
    }
    c.http_host = host;
    c.http_port = static_cast<std::uint16_t>(port);
  }
  return std::nullopt;
}

// Reads the YAML file into `raw`. Returns an error message, or nullopt.
std::optional<std::string> read_config_file(const std::filesystem::path& path,
                                            const std::vector<Key>& keys,
                                            std::map<std::string, Raw>& raw) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return "config file " + path.string() + " is a directory; give the YAML file in it";
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const std::ios_base::failure& e) {
    return "config file " + path.string() + " cannot be read: " + e.what();
  } catch (const YAML::BadFile&) {
    return "config file " + path.string() + " cannot be read";
  } catch (const YAML::Exception& e) {
    return "config file " + path.string() + " is not valid YAML: " + e.msg + " at line " +
           std::to_string(e.mark.line + 1);
  }
  if (root.IsNull()) return std::nullopt;  // an empty file is an empty config
  if (!root.IsMap()) return "config file " + path.string() + " must be a mapping of keys";
  const std::string source = "file " + path.string();
  for (const auto& entry : root) {
    const auto name = entry.first.as<std::string>("");
    const auto key =
        std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return k.name == name; });
    if (key == keys.end()) {
      return "config file " + path.string() + ": unknown key \"" + name +
             "\" (keys are the flag names without --)";
    }
    const YAML::Node& value = entry.second;
    if (value.IsSequence() && key->kind == Kind::kList) {
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.IsScalar())
          return "config file " + path.string() + ": " + name + " items must be strings";
        items.push_back(item.as<std::string>());
      }
      raw[name] = Raw{join(items), source};
    } else if (value.IsScalar()) {
      raw[name] = Raw{value.as<std::string>(), source};
    } else if (value.IsNull()) {
      raw[name] = Raw{"", source};
    } else {
      return "config file " + path.string() + ": " + name + " must be " +
             (key->kind == Kind::kList ? "a list or a comma-separated string" : "a scalar");
    }
  }
  return std::nullopt;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  double scale = 1000.0;  // bare numbers are seconds
  std::string number = text;
  if (text.ends_with("ms")) {
    scale = 1.0;
    number = text.substr(0, text.size() - 2);
  } else if (text.ends_with("s")) {
    number = text.substr(0, text.size() - 1);
  } else if (text.ends_with("m")) {
    scale = 60'000.0;
    number = text.substr(0, text.size() - 1);
  }
  if (number.empty()) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(value) ||
      value < 0) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(value * scale)));
}

ConfigLoad load_config(int argc, const char* const* argv, const EnvLookup& env) {
  const std::vector<Key> keys = all_keys();
  CLI::App app(
      "ascend-device-plugin: advertises Huawei Ascend NPUs (910A/910B) to the kubelet as an "
      "extended resource, keeps their health current and hands them to containers.",
      kProgram);
  app.footer(
      "Every flag can also be set with the environment variable ASCEND_DP_<FLAG> (upper case, "
      "- as _) or as a key of the YAML file given by --config (ASCEND_DP_CONFIG). "
      "Precedence: flag, environment, file, default.");
  app.set_version_flag("--version", std::string(kProgram) + " 0.1.0");
  app.get_formatter()->column_width(36);

  std::string config_path;
  CLI::Option* config_opt = app.add_option("--config", config_path,
                                           "YAML file with any of the keys below (flag names "
                                           "without --)");
  std::map<std::string, std::string> text_values;
  std::map<std::string, bool> bool_values;
  std::map<std::string, CLI::Option*> options;
  for (const Key& key : keys) {
    const std::string help = key.help + " [env " + env_name(key.name) + "]";
    if (key.kind == Kind::kBool) {
      options[key.name] = app.add_flag("--" + key.name, bool_values[key.name], help);
    } else {
      options[key.name] = app.add_option("--" + key.name, text_values[key.name], help)
                              ->default_str(key.fallback)
                              ->type_name(key.kind == Kind::kList ? "LIST" : "TEXT");
    }
  }

  ConfigLoad out;
  if (auto exit = kube::parse_command_line(app, argc, argv)) {
    out.exit_code = exit->code;
    out.message = std::move(exit->message);
    return out;
  }

  std::map<std::string, Raw> raw;
  for (const Key& key : keys)
    raw[key.name] = Raw{key.fallback, "default"};

  if (config_opt->count() == 0) {
    if (auto from_env = env("ASCEND_DP_CONFIG")) config_path = *from_env;
  }
  if (!config_path.empty()) {
    if (auto error = read_config_file(config_path, keys, raw)) {
      out.exit_code = 2;
      out.message = std::string(kProgram) + ": " + one_line(*error);
      return out;
    }
    out.config.config_file = config_path;
  }
  for (const Key& key : keys) {
    const std::string variable = env_name(key.name);
    if (auto value = env(variable)) raw[key.name] = Raw{*value, "env " + variable};
    if (options[key.name]->count() > 0) {
      raw[key.name] = Raw{key.kind == Kind::kBool ? (bool_values[key.name] ? "true" : "false")
                                                  : text_values[key.name],
                          "flag --" + key.name};
    }
  }
  if (auto error = convert(raw, out.config)) {
    out.exit_code = 2;
    out.message = std::string(kProgram) + ": " + one_line(*error);
  }
  return out;
}

}  // namespace ascend::plugin
