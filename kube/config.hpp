// Where the API server is and how to authenticate to it: kubeconfig files and in-cluster
// service-account configuration, parsed and validated once into a plain struct.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "kube/clock.hpp"
#include "kube/error.hpp"

namespace ascend::kube {

/// Re-reads a bearer token file as it rotates (bound service-account tokens are replaced by
/// the kubelet; client-go re-reads every minute). Thread-safe.
class TokenFile final {
 public:
  TokenFile(std::string path, Duration refresh = std::chrono::minutes(1),
            ClockPtr clock = system_clock());
  /// The current token (trailing whitespace removed). When a re-read fails, the last good
  /// token is kept; the first read failing is an error naming the file.
  Result<std::string> token();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const Duration refresh_;
  ClockPtr clock_;
  std::mutex mutex_;
  std::string cached_;                 // guarded by mutex_
  std::optional<SteadyTime> read_at_;  // guarded by mutex_
};

/// Everything a transport needs to reach one API server.
struct Config {
  /// Base URL, e.g. `https://127.0.0.1:6443`; no trailing slash.
  std::string server;
  /// PEM bundle of the certificate authorities that may sign the server certificate. Empty
  /// means the system trust store.
  std::string ca_pem;
  /// PEM client certificate and key (both or neither).
  std::string client_cert_pem;
  std::string client_key_pem;
  /// A static bearer token.
  std::string token;
  /// A bearer token re-read from a file (takes precedence over `token`).
  std::shared_ptr<TokenFile> token_file;
  /// Only ever true when the kubeconfig says `insecure-skip-tls-verify: true`.
  bool insecure_skip_tls_verify = false;
  /// The context's namespace, or the service account's namespace in cluster; "default"
  /// otherwise.
  std::string default_namespace = "default";
  /// Where this came from, for log lines and error messages (`kubeconfig /path context x`).
  std::string source;

  /// The bearer token to send right now, if any. Errors: the token file cannot be read.
  Result<std::optional<std::string>> bearer_token() const;
};

/// Loads a kubeconfig file. `context` empty means the file's `current-context`.
/// Relative file paths in the kubeconfig are resolved against the kubeconfig's directory.
/// Errors (reason `InvalidConfig`), each one line naming the file and the field: the file is
/// missing or not YAML, the context/cluster/user is absent, a referenced file cannot be read,
/// base64 data is invalid, or the user relies on an `exec` or `auth-provider` plugin (not
/// supported by ascend-factory: use a token, token file or client certificate).
Result<Config> load_kubeconfig(const std::string& path, const std::string& context = "");

/// Looks up an environment variable; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
/// The process environment.
std::optional<std::string> process_env(const std::string& name);

/// In-cluster configuration: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
/// (IPv6 hosts bracketed), CA, token and namespace from `secrets_dir`.
/// Errors (reason `InvalidConfig`): not running in a cluster (variables unset), or the CA or
/// token file is unreadable.
Result<Config> load_in_cluster(
    const EnvLookup& env = process_env,
    const std::string& secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

/// The usual search: an explicit path if given, else `$KUBECONFIG` (first entry), else in
/// cluster when `KUBERNETES_SERVICE_HOST` is set, else `$HOME/.kube/config`.
Result<Config> load_default_config(const std::string& explicit_path = "",
                                   const std::string& context = "",
                                   const EnvLookup& env = process_env);

/// Standard base64 (padding optional); std::nullopt when the text is not base64.
std::optional<std::string> decode_base64(const std::string& text);

}  // namespace ascend::kube
