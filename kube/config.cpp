#include "kube/config.hpp"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ascend::kube {
namespace {

Error invalid(const std::string& message) {
  return Error{0, "InvalidConfig", message};
}

// The whole file. A directory opens as an ifstream on Linux and then fails on the first read
// (libstdc++ throws std::ios_base::failure from deep inside yaml-cpp), so it is refused here.
Result<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalid("cannot read " + path + ": it is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid("cannot read " + path);
  std::ostringstream out;
  try {
    out << in.rdbuf();
  } catch (const std::exception& e) {
    return invalid("cannot read " + path + ": " + e.what());
  }
  if (in.bad()) return invalid("cannot read " + path);
  return out.str();
}

std::string trim_right(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

// Finds `name` in a kubeconfig list such as `clusters: [{name: x, cluster: {...}}]`.
YAML::Node find_named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return YAML::Node();
}

std::string scalar(const YAML::Node& node, const std::string& key) {
  const YAML::Node v = node[key];
  if (!v || !v.IsScalar()) return {};
  return v.as<std::string>();
}

class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string path)
      : path_(std::move(path)), dir_(std::filesystem::path(path_).parent_path()) {}

  Error fail(const std::string& field, const std::string& problem) const {
    return invalid("kubeconfig " + path_ + ": " + field + ": " + problem);
  }

  // Reads `<key>-data` (base64) or `<key>` (a file, relative to the kubeconfig) from node.
  Result<std::string> data_or_file(const YAML::Node& node, const std::string& field_prefix,
                                   const std::string& key) const {
    if (const std::string data = scalar(node, key + "-data"); !data.empty()) {
      auto decoded = decode_base64(data);
      if (!decoded) return fail(field_prefix + "." + key + "-data", "not valid base64");
      return *decoded;
    }
    const std::string file = scalar(node, key);
    if (file.empty()) return std::string();
    const std::string resolved = resolve(file);
    auto content = read_file(resolved);
    if (!content) return fail(field_prefix + "." + key, content.error().message);
    return content.value();
  }

  [[nodiscard]] std::string resolve(const std::string& file) const {
    const std::filesystem::path p(file);
    return p.is_absolute() ? file : (dir_ / p).string();
  }

  Result<Config> load(const std::string& wanted_context) const {
    auto text = read_file(path_);
    if (!text) {
      return invalid("kubeconfig " + path_ + ": " + text.error().message +
                     (std::filesystem::exists(path_) ? "" : " (does it exist?)"));
    }
    YAML::Node root;
    try {
      root = YAML::Load(text.value());
    } catch (const YAML::Exception& e) {
      return invalid("kubeconfig " + path_ + ": not valid YAML: " + e.what());
    }
    if (!root.IsMap()) return fail("(top level)", "not a kubeconfig mapping");
    try {
      return load_root(root, wanted_context);
    } catch (const YAML::Exception& e) {
      return invalid("kubeconfig " + path_ + ": unexpected structure: " + e.what());
    }
  }

 private:
  Result<Config> load_root(const YAML::Node& root, const std::string& wanted_context) const {
    std::string context_name = wanted_context;
    if (context_name.empty()) context_name = scalar(root, "current-context");
    if (context_name.empty()) {
      return fail("current-context", "not set and no context was named");
    }
    const YAML::Node context_item = find_named(root["contexts"], context_name);
    if (!context_item || !context_item["context"]) {
      return fail("contexts", "no context named \"" + context_name + "\"");
    }
    const YAML::Node context = context_item["context"];
    const std::string cluster_name = scalar(context, "cluster");
    const std::string user_name = scalar(context, "user");
    const std::string ctx_field = "contexts[name=" + context_name + "].context";
    if (cluster_name.empty()) return fail(ctx_field + ".cluster", "missing");

    Config config;
    config.source = "kubeconfig " + path_ + " context " + context_name;
    if (const std::string ns = scalar(context, "namespace"); !ns.empty()) {
      config.default_namespace = ns;
    }

    const YAML::Node cluster_item = find_named(root["clusters"], cluster_name);
    if (!cluster_item || !cluster_item["cluster"]) {
      return fail("clusters",
                  "no cluster named \"" + cluster_name + "\" (used by " + ctx_field + ".cluster)");
    }
    const YAML::Node cluster = cluster_item["cluster"];
    const std::string cluster_field = "clusters[name=" + cluster_name + "].cluster";
    config.server = scalar(cluster, "server");
    if (config.server.empty()) return fail(cluster_field + ".server", "missing");
    while (config.server.ends_with('/'))
      config.server.pop_back();
    if (!config.server.starts_with("https://") && !config.server.starts_with("http://")) {
      return fail(cluster_field + ".server", "\"" + config.server + "\" is not an http(s) URL");
    }
    if (cluster["proxy-url"]) {
      return fail(cluster_field + ".proxy-url", "proxies are not supported");
    }
    config.insecure_skip_tls_verify = scalar(cluster, "insecure-skip-tls-verify") == "true";
    auto ca = data_or_file(cluster, cluster_field, "certificate-authority");
    if (!ca) return ca.error();
    config.ca_pem = std::move(ca.value());

    if (user_name.empty()) return config;  // anonymous
    const YAML::Node user_item = find_named(root["users"], user_name);
    if (!user_item) {
      return fail("users", "no user named \"" + user_name + "\" (used by " + ctx_field + ".user)");
    }
    const YAML::Node user = user_item["user"];
    const std::string user_field = "users[name=" + user_name + "].user";
    if (!user || !user.IsMap()) return config;
    if (user["exec"]) {
      return fail(user_field + ".exec",
                  "exec credential plugins are not supported by ascend-factory; use a token, "
                  "token file or client certificate (e.g. a ServiceAccount token)");
    }
    if (user["auth-provider"]) {
      return fail(user_field + ".auth-provider",
                  "auth-provider plugins are not supported by ascend-factory; use a token, "
                  "token file or client certificate");
    }
    if (user["username"] || user["password"]) {
      return fail(user_field + ".username", "basic authentication is not supported");
    }
    auto cert = data_or_file(user, user_field, "client-certificate");
    if (!cert) return cert.error();
    auto key = data_or_file(user, user_field, "client-key");
    if (!key) return key.error();
    if (cert.value().empty() != key.value().empty()) {
      return fail(user_field + (cert.value().empty() ? ".client-certificate" : ".client-key"),
                  "missing (a client certificate needs both certificate and key)");
    }
    config.client_cert_pem = std::move(cert.value());
    config.client_key_pem = std::move(key.value());
    config.token = scalar(user, "token");
    if (const std::string file = scalar(user, "tokenFile"); !file.empty()) {
      config.token_file = std::make_shared<TokenFile>(resolve(file));
      auto first = config.token_file->token();
      if (!first) return fail(user_field + ".tokenFile", first.error().message);
    }
    return config;
  }

  std::string path_;
  std::filesystem::path dir_;
};

}  // namespace

TokenFile::TokenFile(std::string path, Duration refresh, ClockPtr clock)
    : path_(std::move(path)), refresh_(refresh), clock_(std::move(clock)) {}

Result<std::string> TokenFile::token() {
  const std::lock_guard lock(mutex_);
  const SteadyTime now = clock_->now();
  if (read_at_ && now - *read_at_ < refresh_) return cached_;
  auto content = read_file(path_);
  if (!content || trim_right(content.value()).empty()) {
    if (read_at_) return cached_;  // keep the last good token; the file is being rotated
    return invalid("cannot read a bearer token from " + path_);
  }
  cached_ = trim_right(std::move(content.value()));
  read_at_ = now;
  return cached_;
}

Result<std::optional<std::string>> Config::bearer_token() const {
  if (token_file) {
    auto t = token_file->token();
    if (!t) return t.error();
    return std::optional<std::string>(std::move(t.value()));
  }
  if (!token.empty()) return std::optional<std::string>(token);
  return std::optional<std::string>();
}

Result<Config> load_kubeconfig(const std::string& path, const std::string& context) {
  return KubeconfigReader(path).load(context);
}

std::optional<std::string> process_env(const std::string& name) {
  // Read once at start-up by the config loaders; nothing in this process calls setenv.
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Result<Config> load_in_cluster(const EnvLookup& env, const std::string& secrets_dir) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) {
    return invalid(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
        "both be set (or pass a kubeconfig)");
  }
  Config config;
  const bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  config.source = "in-cluster service account " + secrets_dir;
  auto ca = read_file(secrets_dir + "/ca.crt");
  if (!ca) return invalid("in-cluster config: " + ca.error().message);
  config.ca_pem = std::move(ca.value());
  config.token_file = std::make_shared<TokenFile>(secrets_dir + "/token");
  if (auto t = config.token_file->token(); !t)
    return invalid("in-cluster config: " + t.error().message);
  if (auto ns = read_file(secrets_dir + "/namespace"); ns && !trim_right(ns.value()).empty()) {
    config.default_namespace = trim_right(ns.value());
  }
  return config;
}

Result<Config> load_default_config(const std::string& explicit_path, const std::string& context,
                                   const EnvLookup& env) {
  if (!explicit_path.empty()) return load_kubeconfig(explicit_path, context);
  if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    return load_kubeconfig(kc->substr(0, kc->find(':')), context);
  }
  if (auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
    return load_in_cluster(env);
  }
  if (auto home = env("HOME"); home && !home->empty()) {
    return load_kubeconfig(*home + "/.kube/config", context);
  }
  return invalid("no kubeconfig given, KUBECONFIG and HOME unset, and not in a cluster");
}

std::optional<std::string> decode_base64(const std::string& text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned int acc = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding) return std::nullopt;  // data after padding
    const std::size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6U) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> static_cast<unsigned int>(bits)) & 0xFFU);
    }
  }
  return out;
}

}  // namespace ascend::kube
