// The stand-in's `train`: a few fake steps that write trainer_log.jsonl the way
// LLaMA-Factory's LogCallback does, so progress readers (LLaMA Board, the operator's status,
// tests) see the real format.
#pragma once

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

namespace ascend::standin {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

inline constexpr const char* kTrainerLog = "trainer_log.jsonl";

struct TrainPlan {
  int total_steps = 5;               // standin_steps
  double step_seconds = 0.5;         // standin_step_seconds
  std::optional<int> exit_code;      // standin_exit_code: exit with it after the steps
  double learning_rate = 5e-5;       // learning_rate
  std::string scheduler = "linear";  // lr_scheduler_type (linear or cosine)
  double epochs = 3.0;               // num_train_epochs
  bool overwrite = false;            // overwrite_output_dir: start a fresh log, do not resume
  int save_steps = 500;              // save_steps: write checkpoint-N every N steps
  std::optional<int> fail_at_step;   // standin_fail_at_step: exit 1 after that step, once
  std::filesystem::path output_dir = "/app/output";  // output_dir (relative to the cwd)
};

// Reads the plan from the config; throws ConfigError on a bad value.
TrainPlan plan_from_config(const Json& config, const std::filesystem::path& default_output);

// str(datetime.timedelta(seconds=int(s))) as Python prints it: "0:00:05", "1 day, 2:03:04".
std::string format_duration(double seconds);

// The loss after `step` steps: falls smoothly from about 2.5 towards 0.5.
double fake_loss(int step);

// The line LLaMA-Factory's LogCallback writes after `step` steps (1-based), keys in its order;
// `elapsed_seconds` ran since step `first_step` (the checkpoint a resumed run started from).
OrderedJson log_entry(const TrainPlan& plan, int step, double elapsed_seconds, int first_step = 0);

struct TrainOutcome {
  int steps_done = 0;
  bool stopped = false;  // `stop` was set (SIGTERM) before the last step
  int resumed_from = 0;  // the checkpoint's step this run started from (0: from scratch)
  bool failed = false;   // stopped at fail_at_step on purpose (exit 1)
};

// The step of the newest `checkpoint-<N>` folder in `dir` (0 when none), as transformers'
// get_last_checkpoint picks it: folders named exactly checkpoint-<digits>, highest number.
int newest_checkpoint(const std::filesystem::path& dir);

// The marker run_training leaves in output_dir when it failed on purpose at `step`, so the
// failure happens once per output folder (the restarted run goes on).
std::filesystem::path fail_marker(const std::filesystem::path& dir, int step);

// Runs the steps, sleeping step_seconds before each. With write_log (rank 0, as in
// LLaMA-Factory where only the main process saves) it writes trainer_log.jsonl, a
// `checkpoint-<step>` folder (with trainer_state.json) every save_steps steps and, at the end,
// train_results.json into output_dir. Unless overwrite is set it first resumes after the
// newest checkpoint, as LLaMA-Factory does with overwrite_output_dir false. Throws
// std::runtime_error when it cannot write.
TrainOutcome run_training(const TrainPlan& plan, bool write_log, const std::atomic<bool>& stop,
                          std::ostream& out);

}  // namespace ascend::standin
