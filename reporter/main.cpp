// lfjob-progress: the progress reporter beside llamafactory-cli on rank 0 of a training job
// (the operator adds it as a sidecar, operator/pod_builder.hpp). It follows
// <output_dir>/trainer_log.jsonl, which LLaMA-Factory's LogCallback appends to after every
// logging step, and posts the newest line to the operator's status server with the Pod's
// projected ServiceAccount token. LLaMA-Factory is not changed; the reporter never fails the
// training: errors are logged and retried.
//
// Environment (the operator sets it): LFJOB_PROGRESS_URL, LFJOB_PROGRESS_CA (PEM),
// LFJOB_PROGRESS_TOKEN_FILE, LFJOB_OUTPUT_DIR; LFJOB_PROGRESS_PERIOD (seconds between
// looks at the log, default 5).
#include <curl/curl.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "reporter/follower.hpp"
#include "reporter/poster.hpp"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int /*sig*/) {
  g_stop.store(true);
}

std::string env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before any thread
  return v != nullptr ? std::string(v) : fallback;
}

std::string read_token(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string token = s.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r'))
    token.pop_back();
  return token;
}

void log(const std::string& text) {
  std::cerr << "lfjob-progress: " << text << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  namespace r = ascend::reporter;
  if (argc > 1 && std::string(argv[1]) != "run") {
    std::cout << "Usage: lfjob-progress [run]\n"
                 "Follows <LFJOB_OUTPUT_DIR>/trainer_log.jsonl and posts each new progress line "
                 "to LFJOB_PROGRESS_URL\n(HTTPS, CA from LFJOB_PROGRESS_CA, bearer token from "
                 "LFJOB_PROGRESS_TOKEN_FILE). Set by the llamafactory-operator.\n";
    return std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ? 0 : 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const r::PostTarget target{env("LFJOB_PROGRESS_URL"), env("LFJOB_PROGRESS_CA")};
  const std::string token_file = env("LFJOB_PROGRESS_TOKEN_FILE");
  const std::filesystem::path output = env("LFJOB_OUTPUT_DIR", "/app/output");
  double period = std::atof(env("LFJOB_PROGRESS_PERIOD", "5").c_str());
  if (!(period >= 0.1 && period <= 3600)) period = 5;
  if (target.url.empty() || token_file.empty()) {
    log("LFJOB_PROGRESS_URL and LFJOB_PROGRESS_TOKEN_FILE are not set; nothing to do");
    while (!g_stop.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return 0;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);

  // What was there before this run: a checkpoint to resume from, older log lines.
  const std::int64_t checkpoint = r::newest_checkpoint(output);
  std::optional<r::LogFollower> follower;
  std::optional<std::int64_t> first_step;
  std::optional<nlohmann::json> pending;
  log("following " + (output / r::kTrainerLog).string() + ", posting to " + target.url +
      (checkpoint > 0 ? ", newest checkpoint at start: " + std::to_string(checkpoint) : ""));
  std::string last_error;
  bool first_look = true;
  while (!g_stop.load()) {
    if (!follower) {
      // A log that exists at start is an earlier run's (skip its lines); one that appears
      // later is this run's.
      if (const auto file = r::find_trainer_log(output)) follower.emplace(*file, first_look);
      first_look = false;
    }
    if (auto line = follower ? follower->poll() : std::nullopt) {
      if (!first_step && (*line)["current_steps"].is_number()) {
        first_step = (*line)["current_steps"].get<std::int64_t>();
      }
      pending = r::make_report(*line, checkpoint, first_step);
    }
    if (pending) {
      const auto outcome = r::post_report(target, read_token(token_file), pending->dump());
      if (outcome.status == 202) {
        pending.reset();
        last_error.clear();
      } else {
        const std::string error =
            outcome.status != 0 ? "HTTP " + std::to_string(outcome.status) + ": " + outcome.message
                                : outcome.message;
        if (error != last_error) log("post failed (will retry): " + error);
        last_error = error;
        // A refusal that retrying cannot change (bad report, not rank 0): drop it.
        if (outcome.status == 400 || outcome.status == 403) pending.reset();
      }
    }
    for (int i = 0; i < static_cast<int>(period * 10) && !g_stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Stopped (the kubelet ends a sidecar once the training exited): the last lines the run
  // wrote are the ones a user most wants to see, so they are posted once more.
  if (!follower) {
    if (const auto file = r::find_trainer_log(output)) follower.emplace(*file, first_look);
  }
  if (auto line = follower ? follower->poll() : std::nullopt) {
    if (!first_step && (*line)["current_steps"].is_number()) {
      first_step = (*line)["current_steps"].get<std::int64_t>();
    }
    pending = r::make_report(*line, checkpoint, first_step);
  }
  if (pending) {
    const auto outcome = r::post_report(target, read_token(token_file), pending->dump());
    if (outcome.status != 202) log("last post failed: HTTP " + std::to_string(outcome.status));
  }
  curl_global_cleanup();
  return 0;
}
