// The running control-plane test bed (tests/testbed/cluster.sh) as the kube/ tests and the
// benchmark see it: where its files are, its kubectl, its etcd, and restarting its apiserver.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kube/client.hpp"
#include "kube/error.hpp"

namespace ascend::kube::testbed {

/// What a shell command printed on stdout and how it ended.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};

/// Runs `command` with /bin/sh, stdout captured (stderr goes to ours). Blocks until it ends.
CommandResult run(const std::string& command);

/// Quotes one shell word.
std::string quote(const std::string& word);

/// The test bed the environment describes: KUBECONFIG, TESTBED_DIR, TESTBED_BIN and
/// TESTBED_CLUSTER_SH (tests/kube/apiserver_test.sh and bench/run_kube_bench.sh export them).
class TestBed final {
 public:
  /// Reads the environment and `$TESTBED_DIR/ports`. Errors (reason `InvalidConfig`) name the
  /// variable or file that is missing.
  static Result<TestBed> from_env();

  [[nodiscard]] const std::string& kubeconfig() const { return kubeconfig_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::string& kubectl_path() const { return kubectl_; }

  /// A client for the admin kubeconfig; QPS and burst high enough for bulk tests.
  [[nodiscard]] Result<ClientPtr> admin_client(double qps = 200, int burst = 400) const;

  /// `kubectl --kubeconfig <admin> <args>`; args are passed to the shell as they are.
  [[nodiscard]] CommandResult kubectl(const std::string& args) const;

  /// `cluster.sh restart <dir> kube-apiserver --down-seconds <n>`: returns once it serves again.
  [[nodiscard]] bool restart_apiserver(int down_seconds) const;

  /// etcd's current revision (JSON gateway /v3/kv/range), or nullopt when etcd does not answer.
  [[nodiscard]] std::optional<long long> etcd_revision() const;
  /// Compacts etcd's history up to `revision` (physical, so it is gone when this returns).
  [[nodiscard]] bool etcd_compact(long long revision) const;
  /// Reads, writes and deletes one key directly in etcd, behind the apiserver's back.
  [[nodiscard]] std::optional<std::string> etcd_get(const std::string& key) const;
  [[nodiscard]] bool etcd_put(const std::string& key, const std::string& value) const;
  [[nodiscard]] bool etcd_delete(const std::string& key) const;

 private:
  [[nodiscard]] std::optional<nlohmann::json> etcd_call(const std::string& path,
                                                        const nlohmann::json& body) const;

  std::string kubeconfig_;
  std::string dir_;
  std::string kubectl_;
  std::string cluster_sh_;
  int etcd_port_ = 0;
};

/// Standard base64 with padding (etcd's JSON gateway encodes keys and values so).
std::string encode_base64(const std::string& bytes);

}  // namespace ascend::kube::testbed
