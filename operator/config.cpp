#include "operator/config.hpp"

#include <charconv>
#include <cmath>
#include <string>
#include <utility>

// GCC 12 reports a null dereference inside CLI11's own string splitting once it is inlined
// here (a false positive in a header we do not own); the rest of this file stays strict.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop

#include "kube/logging.hpp"
#include "kube/program.hpp"

namespace ascend::op {

kube::Result<Address> parse_address(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return kube::Error{
        0, "InvalidConfig",
        "address \"" + text + "\": " + why + " (want host:port, :port or [v6]:port)"};
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("IPv6 hosts need brackets");
  }
  int port = -1;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return Address{host, static_cast<std::uint16_t>(port)};
}

ConfigLoad load_config(int argc, const char* const* argv) {
  ConfigLoad load;
  OperatorConfig& c = load.config;
  CLI::App app{std::string("llamafactory-operator: runs ") + kKind + " resources (" +
                   kJobs.api_version() + ") as LLaMA-Factory pods on Ascend NPUs",
               "llamafactory-operator"};
  app.set_version_flag("--version", "llamafactory-operator 0.1.0");
  app.get_formatter()->column_width(34);
  app.add_option("--kubeconfig", c.kubeconfig,
                 "kubeconfig file; default $KUBECONFIG, then the in-cluster service account, "
                 "then ~/.kube/config");
  app.add_option("--context", c.context, "kubeconfig context; default the current context");
  app.add_option("--namespace", c.watch_namespace,
                 "only manage jobs in this namespace; default all namespaces");
  app.add_option("--default-image", c.default_image,
                 "LLaMA-Factory NPU image for jobs that do not set spec.image")
      ->capture_default_str();
  app.add_option("--metrics-address", c.metrics_address,
                 "host:port for Prometheus /metrics; empty disables")
      ->capture_default_str();
  app.add_option("--health-address", c.health_address,
                 "host:port for /healthz and /readyz; empty disables")
      ->capture_default_str();
  app.add_option("--leader-elect", c.leader_elect,
                 "elect one active replica through a coordination.k8s.io Lease (true/false)")
      ->capture_default_str();
  app.add_option("--leader-election-id", c.lease_name, "name of the Lease")->capture_default_str();
  app.add_option("--leader-election-namespace", c.lease_namespace,
                 "namespace of the Lease; default the kubeconfig's or service account's namespace");
  app.add_option("--identity", c.identity,
                 "this replica's name in the Lease; default hostname plus a random suffix");
  app.add_option("--kube-api-qps", c.kube_api_qps,
                 "API requests/s, sustained, for reconciles (Events have as much again on a "
                 "client of their own). A single-rank job costs about 8 writes (8.03 measured): "
                 "6 here (3 applies, 2 status writes, its Pod; a Pod more per extra rank) and "
                 "2 Events. 100/s writes 500 new jobs in ~30 s, about as fast as the API "
                 "server creates their Services; 20/s (client-go era default) took 200 s")
      ->capture_default_str()
      // NaN compares false with both bounds, so Range alone let "nan" through.
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            double value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
              return "'" + text + "' is not a number";
            }
            return {};
          },
          "NUMBER"))
      ->check(CLI::Range(0.1, 10000.0));
  app.add_option("--kube-api-burst", c.kube_api_burst,
                 "API requests allowed at once above that rate (2x QPS, as kube-scheduler), "
                 "so a few new jobs start without waiting on the rate")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--workers", c.workers,
                 "jobs reconciled in parallel; each waits on the API server for every write, "
                 "so 16 keep ~100 requests/s going at ~150 ms per request (32 were no faster)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--pending-status-delay", c.pending_status_delay_seconds,
                 "seconds a new job's first status (phase Pending) waits for its Pods to run: "
                 "a job running by then gets one status write (Running) instead of two; a "
                 "waiting reason or failure is written at once; 0 writes Pending at once")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--startup-taint", c.startup_taint,
                 std::string("taint removed from a Node once its allocatable shows ") +
                     kNpuResource +
                     " (the cluster autoscaler's startup taint); empty: leave Nodes alone (no "
                     "Node access needed)")
      ->capture_default_str();
  app.add_option("--kueue", c.kueue,
                 "Kueue integration for jobs labelled kueue.x-k8s.io/queue-name: auto (on when "
                 "the API server serves kueue.x-k8s.io/v1beta2 at start), on, or off")
      ->capture_default_str();
  app.add_option("--autoscaler-events", c.autoscaler_events,
                 "node autoscalers whose Events on a job's Pending pods its status reports "
                 "(a node is coming, or why none will): cluster-autoscaler, karpenter; empty: "
                 "none (no Event access needed)")
      ->delimiter(',')
      ->expected(0, -1)
      ->capture_default_str();
  app.add_option("--progress-address", c.progress_address,
                 "host:port of the status server where training Pods post progress (HTTPS)")
      ->capture_default_str();
  app.add_option("--progress-cert-file", c.progress_cert_file,
                 "PEM serving certificate of the status server; empty: no status server, no "
                 "progress reporter in Pods");
  app.add_option("--progress-key-file", c.progress_key_file, "PEM key of that certificate");
  app.add_option("--progress-ca-file", c.progress_ca_file,
                 "PEM CA bundle the reporters in Pods trust; default the certificate file");
  app.add_option("--progress-url", c.progress_url,
                 "https URL the reporters post to, e.g. "
                 "https://<operator Service>.<namespace>.svc:9443/v1/progress");
  app.add_option("--progress-interval", c.progress_interval_seconds,
                 "at most one status write for progress per job in this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_option("--log-format", c.log_format, "text or json")->capture_default_str();

  if (auto exit = kube::parse_command_line(app, argc, argv)) {
    load.exit_code = exit->code;
    load.message = std::move(exit->message);
    return load;
  }

  auto fail = [&](const std::string& message) {
    load.exit_code = 2;
    load.message = "llamafactory-operator: " + message + " (see --help)";
    return load;
  };
  for (const auto* flag : {&c.metrics_address, &c.health_address}) {
    if (flag->empty()) continue;
    const std::string name = flag == &c.metrics_address ? "--metrics-address" : "--health-address";
    auto parsed = parse_address(*flag);
    if (!parsed) return fail(name + ": " + parsed.error().message);
  }
  if (c.default_image.empty()) return fail("--default-image must not be empty");
  if (c.kueue != "auto" && c.kueue != "on" && c.kueue != "off") {
    return fail("--kueue must be auto, on or off (got \"" + c.kueue + "\")");
  }
  std::erase(c.autoscaler_events, std::string());
  for (const auto& source : c.autoscaler_events) {
    if (source != "cluster-autoscaler" && source != "karpenter") {
      return fail("--autoscaler-events: '" + source +
                  "' is not an autoscaler the operator knows (cluster-autoscaler, karpenter)");
    }
  }
  if (c.progress_cert_file.empty() != c.progress_key_file.empty()) {
    return fail("--progress-cert-file and --progress-key-file go together");
  }
  if (c.progress_enabled()) {
    if (auto parsed = parse_address(c.progress_address); !parsed) {
      return fail("--progress-address: " + parsed.error().message);
    }
    if (!c.progress_url.starts_with("https://")) {
      return fail("--progress-url must be an https:// URL when --progress-cert-file is set (got '" +
                  c.progress_url + "')");
    }
    if (c.progress_ca_file.empty()) c.progress_ca_file = c.progress_cert_file;
  }
  if (c.leader_elect && c.lease_name.empty()) return fail("--leader-election-id must not be empty");
  if (auto logging = kube::validate_log_options({c.log_level, c.log_format}); !logging) {
    return fail(logging.error().message);
  }
  return load;
}

}  // namespace ascend::op
