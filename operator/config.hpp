// The operator's configuration: command-line flags (CLI11), parsed and validated once into a
// plain struct with defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kube/error.hpp"
#include "operator/contract.hpp"

namespace ascend::op {

/// `host:port`, parsed. An empty host (":8080") means every interface.
struct Address {
  std::string host;
  std::uint16_t port = 0;
};

/// Parses `host:port`, `:port` or `[v6]:port`. Errors: reason `InvalidConfig` naming the text.
kube::Result<Address> parse_address(const std::string& text);

struct OperatorConfig {
  /// Empty: $KUBECONFIG, then in cluster, then ~/.kube/config.
  std::string kubeconfig;
  std::string context;
  /// Watch one namespace; empty watches all.
  std::string watch_namespace;
  std::string default_image = "ascendfactory/llamafactory-npu:latest";
  /// Prometheus /metrics; empty disables.
  std::string metrics_address = ":8080";
  /// /healthz and /readyz; empty disables.
  std::string health_address = ":8081";
  bool leader_elect = true;
  std::string lease_name = "llamafactory-operator";
  /// Empty: the namespace of the kubeconfig context or service account.
  std::string lease_namespace;
  /// Unique per replica; empty: hostname plus a random suffix.
  std::string identity;
  /// For reconciles; Events get the same budget again on a client of their own. A single-rank
  /// train job costs 5 writes (bench/README.md): 3 on this budget (its ConfigMap, its Pod, one
  /// status write when it runs within --pending-status-delay; a 2-rank job adds its rendezvous
  /// Service and a Pod) and 2 Events on theirs. So 100/s writes 500 jobs submitted at once in
  /// ~15-20 s; client-go's era default of 20 took 200 s. The API server's Priority and
  /// Fairness, not a low client limit, is what protects it from a busy client.
  double kube_api_qps = 100;
  int kube_api_burst = 200;
  /// Reconciles wait on the API server for each write in turn: workers, not CPU, bound the
  /// request rate. 16 keep 100 requests/s going at 150 ms per request.
  int workers = 16;
  /// How long a new job's first status (Pending) waits for its Pods to run
  /// (ReconcilerOptions::pending_status_delay): one status write instead of two for a job
  /// that runs within it. 0 writes Pending at once.
  double pending_status_delay_seconds = 15;
  /// Removed from a Node once its allocatable shows the NPUs (node_readiness.hpp); empty
  /// turns that off, and the operator then needs no access to Nodes.
  std::string startup_taint = kStartupTaint;
  /// Kueue integration (operator/workload.hpp) for jobs labelled kueue.x-k8s.io/queue-name:
  /// "auto" turns it on when the API server serves Kueue's Workload API at start, "on" always
  /// (the operator waits for the Workload and ResourceFlavor caches), "off" never. Without it
  /// a labelled job stays Queued with a condition that says why.
  std::string kueue = "auto";
  /// The node autoscalers whose Events on Pending Pods the job status reports
  /// (autoscaler_events.hpp): any of "cluster-autoscaler" and "karpenter"; empty: none (no
  /// Event access needed).
  std::vector<std::string> autoscaler_events = {"cluster-autoscaler", "karpenter"};
  /// The status server (operator/progress_server.hpp): where rank 0 of a training job posts
  /// its progress. Off unless a serving certificate and key are given.
  std::string progress_address = ":9443";
  std::string progress_cert_file;
  std::string progress_key_file;
  /// The CA bundle handed to the reporters; empty: the certificate file itself (self-signed).
  std::string progress_ca_file;
  /// The URL the reporters post to (a name the certificate holds); required with a certificate.
  std::string progress_url;
  /// At most one status write for progress per job in this many seconds.
  int progress_interval_seconds = 30;
  std::string log_level = "info";
  std::string log_format = "text";

  [[nodiscard]] bool progress_enabled() const { return !progress_cert_file.empty(); }
};

/// The outcome of reading the command line.
struct ConfigLoad {
  /// -1: run with `config`. Otherwise exit with this code after printing `message` (0 for
  /// --help and --version, on stdout; 2 for a bad flag, on stderr).
  int exit_code = -1;
  std::string message;
  OperatorConfig config;
};

/// Parses and validates the flags; --help explains each.
ConfigLoad load_config(int argc, const char* const* argv);

}  // namespace ascend::op
