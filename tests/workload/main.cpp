// llamafactory-cli, the ascend-factory stand-in: LLaMA-Factory's command surface for the
// real-node test bed, where no Ascend chip and no model exist. Every workload command first
// checks the NPU devices the device plugin gave the container, reports what it saw, then
// acts out the command (see --help).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/workload/config.hpp"
#include "tests/workload/device_check.hpp"
#include "tests/workload/http.hpp"
#include "tests/workload/net.hpp"
#include "tests/workload/rendezvous.hpp"
#include "tests/workload/report.hpp"
#include "tests/workload/trainer.hpp"
#include "tests/workload/version.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace ascend::standin {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitDevices = 3;
constexpr int kExitRendezvous = 4;

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int /*sig*/) {
  g_stop.store(true);
}

std::optional<std::string> env(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): no setenv here
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::map<std::string, std::string> whole_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// An integer environment variable; throws ConfigError when it is set but not a number.
int int_env(const std::string& name, int fallback) {
  const auto v = env(name);
  if (!v || v->empty()) return fallback;
  const Json parsed = scalar_from_text(*v);
  if (!parsed.is_number_integer()) {
    throw ConfigError(name + "='" + *v + "' is not a whole number");
  }
  return parsed.get<int>();
}

std::string output_root() {
  return env("STANDIN_OUTPUT_ROOT").value_or("/app/output");
}

void usage(std::ostream& out) {
  out << "Usage: llamafactory-cli <command> [config.yaml] [key=value ...]\n"
         "\n"
         "THIS IS A STAND-IN ("
      << kStandinBanner
      << ").\n"
         "The real workload image is LLaMA-Factory's NPU image, built from deploy/ on hosts with\n"
         "Ascend drivers.\n"
         "\n"
         "Commands:\n"
         "  train    check devices, meet the other ranks (NNODES>1), write trainer_log.jsonl\n"
         "  webui    check devices, serve a LLaMA Board placeholder on GRADIO_SERVER_PORT (7860)\n"
         "  webchat  same as webui\n"
         "  api      check devices, serve GET /, GET /v1/models and POST /v1/chat/completions on\n"
         "           API_PORT (8000)\n"
         "  export   check devices, write standin-export.json into export_dir\n"
         "  version  print the version\n"
         "  help     print this\n"
         "\n"
         "Every workload command checks that ASCEND_VISIBLE_DEVICES names exactly the\n"
         "/dev/davinci<N> files present, that /dev/davinci_manager, /dev/devmm_svm and\n"
         "/dev/hisi_hdc exist, and that ASCEND_RT_VISIBLE_DEVICES is 0..n-1; it exits 3 when\n"
         "one fails. It writes what it saw to /app/output/standin-report-<NODE_RANK>.json and\n"
         "prints it as one line 'standin-report: {...}'.\n"
         "\n"
         "Stand-in config keys (in the YAML or as key=value):\n"
         "  standin_steps (5)  standin_step_seconds (0.5)  standin_exit_code (exit 0)\n"
         "  standin_fail_at_step (none: exit 1 after that step, once per output_dir)\n"
         "  (these four also as env STANDIN_STEPS, STANDIN_STEP_SECONDS, STANDIN_EXIT_CODE,\n"
         "  STANDIN_FAIL_AT_STEP)\n"
         "  standin_skip_device_check (false)  standin_rendezvous_timeout (120 seconds)\n"
         "LLaMA-Factory keys it reads: output_dir, learning_rate, lr_scheduler_type,\n"
         "  num_train_epochs, overwrite_output_dir, save_steps (500), model_name_or_path,\n"
         "  export_dir. train writes checkpoint-<N> every save_steps steps and, unless\n"
         "  overwrite_output_dir is true, resumes after the newest one.\n"
         "Environment: NNODES NODE_RANK MASTER_ADDR MASTER_PORT NPROC_PER_NODE GRADIO_SERVER_PORT\n"
         "  API_PORT API_MODEL_NAME; for tests STANDIN_DEV_ROOT (/dev), "
         "STANDIN_ALLOW_PLAIN_FILES=1\n"
         "  (accept plain files as device files) and STANDIN_OUTPUT_ROOT (/app/output).\n"
         "Exit codes: 0 done (or SIGTERM for webui/api), 2 usage or config, 3 device check,\n"
         "  4 rendezvous, 143 train stopped by SIGTERM, standin_exit_code when asked.\n";
}

void print_version() {
  std::cout << "llamafactory-cli " << kStandinVersion << " (ascend-factory stand-in)\n"
            << kStandinBanner << ".\n"
            << "This is not LLaMA-Factory; it only imitates its command line for tests.\n";
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: poll and sleep wake up
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

// The stand-in's own knobs may also come from the environment (STANDIN_STEPS,
// STANDIN_STEP_SECONDS, STANDIN_EXIT_CODE), so that a job manifest can set them without
// putting keys into the LLaMA-Factory config that the real image would refuse.
Json with_env_knobs(Json values) {
  for (const char* key :
       {"standin_steps", "standin_step_seconds", "standin_exit_code", "standin_fail_at_step"}) {
    std::string name = key;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (const auto v = env(name); v && !values.contains(key)) values[key] = *v;
  }
  return values;
}

int train(const LoadedConfig& config, int rank) {
  const TrainPlan plan = plan_from_config(with_env_knobs(config.values), output_root());
  RendezvousOptions rz;
  rz.nnodes = int_env("NNODES", 1);
  rz.rank = rank;
  rz.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
  rz.port = int_env("MASTER_PORT", 29500);
  rz.timeout = std::chrono::milliseconds(
      static_cast<int64_t>(1000 * get_number(config.values, "standin_rendezvous_timeout", 120)));
  if (rz.nnodes > 1) {
    const RendezvousResult r = rendezvous(rz, g_stop, std::cout);
    if (!r.ok) {
      std::cerr << "llamafactory-cli (stand-in): rendezvous failed: " << r.message << std::endl;
      return g_stop.load() ? 143 : kExitRendezvous;
    }
    std::cout << "rendezvous: " << r.message << std::endl;
  }
  TrainOutcome outcome;
  try {
    outcome = run_training(plan, rank == 0, g_stop, std::cout);
  } catch (const std::exception& e) {
    std::cerr << "llamafactory-cli (stand-in): " << e.what() << std::endl;
    return 1;
  }
  if (outcome.failed) return 1;
  if (outcome.stopped) {
    std::cout << "standin train: stopped by a signal after " << outcome.steps_done << " of "
              << plan.total_steps << " steps" << std::endl;
    return 143;
  }
  if (plan.exit_code && *plan.exit_code != 0) {
    std::cerr << "standin train: exiting " << *plan.exit_code
              << " because the config sets standin_exit_code" << std::endl;
    return *plan.exit_code;
  }
  std::cout << "standin train: finished " << plan.total_steps << " steps" << std::endl;
  return 0;
}

int serve_http(const std::string& command, const LoadedConfig& config) {
  ServeInfo info;
  info.command = command;
  info.mode = command == "api" ? ServeMode::kApi : ServeMode::kWebui;
  info.port = command == "api" ? int_env("API_PORT", 8000) : int_env("GRADIO_SERVER_PORT", 7860);
  info.model = get_string(config.values, "model_name_or_path", "standin");
  if (const auto name = env("API_MODEL_NAME"); name && command == "api") info.model = *name;
  std::string error;
  const Fd fd = listen_tcp(info.port, &error);
  if (!fd.valid()) {
    std::cerr << "llamafactory-cli (stand-in): cannot listen: " << error << std::endl;
    return 1;
  }
  std::cout << "standin " << command << ": serving HTTP on port " << info.port
            << " (all addresses) until SIGTERM" << std::endl;
  serve(
      fd.get(), [&info](const HttpRequest& r) { return respond(info, r); }, g_stop, std::cout);
  std::cout << "standin " << command << ": stopped by a signal, exiting 0" << std::endl;
  return 0;
}

int export_model(const LoadedConfig& config) {
  const std::filesystem::path dir = get_string(config.values, "export_dir", output_root());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const Json out = {{"standin", true},
                    {"what", kStandinBanner},
                    {"model_name_or_path", get_string(config.values, "model_name_or_path", "")},
                    {"adapter_name_or_path", get_string(config.values, "adapter_name_or_path", "")},
                    {"finetuning_type", get_string(config.values, "finetuning_type", "")},
                    {"template", get_string(config.values, "template", "")},
                    {"note", "no weights were exported: the stand-in has no model"}};
  const auto path = dir / "standin-export.json";
  std::ofstream f(path, std::ios::trunc);
  f << out.dump(2) << "\n";
  if (!f) {
    std::cerr << "llamafactory-cli (stand-in): cannot write " << path << std::endl;
    return 1;
  }
  std::cout << "standin export: wrote " << path.string() << std::endl;
  return 0;
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
    usage(std::cout);
    return 0;
  }
  const std::string& command = args[0];
  if (command == "version" || command == "-v" || command == "--version") {
    print_version();
    return 0;
  }
  static const std::set<std::string> kCommands = {"train", "webui", "webchat", "api", "export"};
  if (kCommands.count(command) == 0) {
    std::cerr << "llamafactory-cli (stand-in): unknown or unsupported command '" << command
              << "'\n\n";
    usage(std::cerr);
    return kExitUsage;
  }

  LoadedConfig config;
  int rank = 0;
  try {
    config = load_config(std::vector<std::string>(args.begin() + 1, args.end()));
    rank = int_env("NODE_RANK", 0);
  } catch (const ConfigError& e) {
    std::cerr << "llamafactory-cli (stand-in): " << e.what() << std::endl;
    return kExitUsage;
  }
  install_signal_handlers();
  std::cout << "llamafactory-cli " << kStandinVersion << ": " << kStandinBanner << std::endl;

  DeviceCheckOptions options;
  options.dev_root = env("STANDIN_DEV_ROOT").value_or("/dev");
  options.require_char_devices = env("STANDIN_ALLOW_PLAIN_FILES").value_or("") != "1";
  const DeviceReport devices = check_devices(options, env);
  bool skip = false;
  try {
    skip = get_bool(config.values, "standin_skip_device_check", false);
  } catch (const ConfigError& e) {
    std::cerr << "llamafactory-cli (stand-in): " << e.what() << std::endl;
    return kExitUsage;
  }
  std::cout << "device check (device root " << options.dev_root.string()
            << (options.require_char_devices ? "" : ", plain files accepted for tests") << "):\n"
            << format_checks(devices.checks) << std::flush;

  ReportInput input;
  input.mode = command;
  input.rank = rank;
  input.config_path = config.path;
  input.config = config.values;
  input.devices = devices;
  input.env = whole_env();
  input.device_check_skipped = skip && !devices.ok();
  if (std::ifstream mi("/proc/self/mountinfo"); mi) input.mounts = parse_mountinfo(mi);
  const Json report = build_report(input);
  const std::filesystem::path report_path =
      std::filesystem::path(output_root()) / report_file_name(rank);
  std::error_code ec;
  std::filesystem::create_directories(report_path.parent_path(), ec);
  if (std::ofstream f(report_path, std::ios::trunc); f && (f << report.dump(2) << "\n")) {
    std::cout << "report written to " << report_path.string() << std::endl;
  } else {
    std::cerr << "warning: cannot write " << report_path.string() << std::endl;
  }
  std::cout << "standin-report: " << report.dump() << std::endl;

  if (!devices.ok()) {
    if (!skip) {
      std::cerr << "llamafactory-cli (stand-in): the device check failed (see [FAIL] above); "
                   "exiting "
                << kExitDevices << std::endl;
      return kExitDevices;
    }
    std::cout << "device check failed, going on because standin_skip_device_check is true"
              << std::endl;
  }

  try {
    if (command == "train") return train(config, rank);
    if (command == "export") return export_model(config);
    return serve_http(command, config);
  } catch (const ConfigError& e) {
    std::cerr << "llamafactory-cli (stand-in): " << e.what() << std::endl;
    return kExitUsage;
  }
}

}  // namespace
}  // namespace ascend::standin

int main(int argc, char** argv) {
  return ascend::standin::run(std::vector<std::string>(argv + 1, argv + argc));
}
