#include "tests/workload/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numbers>
#include <stdexcept>
#include <thread>

#include "tests/workload/config.hpp"

namespace ascend::standin {

namespace {

double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

// Sleeps up to `seconds`, waking early when `stop` is set.
void sleep_unless_stopped(double seconds, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  while (!stop.load() && Clock::now() < until) {
    const auto left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

// transformers' Trainer writes trainer_state.json into each checkpoint; global_step is what
// a resumed run starts from.
void save_checkpoint(const TrainPlan& plan, int step) {
  const auto dir = plan.output_dir / ("checkpoint-" + std::to_string(step));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream f(dir / "trainer_state.json", std::ios::trunc);
  f << Json{{"global_step", step}, {"max_steps", plan.total_steps}, {"standin", true}}.dump(2)
    << "\n";
  if (!f) throw std::runtime_error("cannot write " + (dir / "trainer_state.json").string());
}

}  // namespace

int newest_checkpoint(const std::filesystem::path& dir) {
  int newest = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    constexpr std::string_view kPrefix = "checkpoint-";
    if (!it->is_directory(ec) || name.size() <= kPrefix.size() || !name.starts_with(kPrefix)) {
      continue;
    }
    const std::string digits = name.substr(kPrefix.size());
    if (digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    newest = std::max(newest, std::stoi(digits));
  }
  return newest;
}

std::filesystem::path fail_marker(const std::filesystem::path& dir, int step) {
  return dir / ("standin-failed-at-step-" + std::to_string(step));
}

TrainPlan plan_from_config(const Json& config, const std::filesystem::path& default_output) {
  TrainPlan p;
  p.total_steps = static_cast<int>(get_int(config, "standin_steps", p.total_steps));
  if (p.total_steps < 1 || p.total_steps > 1000000) {
    throw ConfigError("standin_steps must be between 1 and 1000000");
  }
  p.step_seconds = get_number(config, "standin_step_seconds", p.step_seconds);
  if (p.step_seconds < 0 || p.step_seconds > 3600) {
    throw ConfigError("standin_step_seconds must be between 0 and 3600");
  }
  if (config.contains("standin_exit_code") && !config["standin_exit_code"].is_null()) {
    const int64_t code = get_int(config, "standin_exit_code", 0);
    if (code < 0 || code > 255) throw ConfigError("standin_exit_code must be between 0 and 255");
    p.exit_code = static_cast<int>(code);
  }
  p.learning_rate = get_number(config, "learning_rate", p.learning_rate);
  p.scheduler = get_string(config, "lr_scheduler_type", p.scheduler);
  p.epochs = get_number(config, "num_train_epochs", p.epochs);
  p.overwrite = get_bool(config, "overwrite_output_dir", p.overwrite);
  const int64_t save = get_int(config, "save_steps", p.save_steps);
  if (save < 1 || save > 1000000) throw ConfigError("save_steps must be between 1 and 1000000");
  p.save_steps = static_cast<int>(save);
  if (config.contains("standin_fail_at_step") && !config["standin_fail_at_step"].is_null()) {
    const int64_t step = get_int(config, "standin_fail_at_step", 0);
    if (step < 1 || step > p.total_steps) {
      throw ConfigError("standin_fail_at_step must be between 1 and standin_steps (" +
                        std::to_string(p.total_steps) + ")");
    }
    p.fail_at_step = static_cast<int>(step);
  }
  const std::string out = get_string(config, "output_dir", "");
  p.output_dir = out.empty() ? default_output : std::filesystem::path(out);
  return p;
}

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(seconds < 0 ? 0 : seconds);
  const int64_t days = s / 86400;
  s %= 86400;
  char hms[32];
  std::snprintf(hms, sizeof(hms), "%d:%02d:%02d", static_cast<int>(s / 3600),
                static_cast<int>(s / 60 % 60), static_cast<int>(s % 60));
  if (days == 0) return hms;
  return std::to_string(days) + (days == 1 ? " day, " : " days, ") + hms;
}

double fake_loss(int step) {
  return 0.5 + 2.0 * std::exp(-0.3 * step);
}

OrderedJson log_entry(const TrainPlan& plan, int step, double elapsed_seconds, int first_step) {
  const double progress = static_cast<double>(step) / plan.total_steps;
  double lr = plan.learning_rate * (1.0 - progress);
  if (plan.scheduler == "cosine") {
    lr = plan.learning_rate * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  } else if (plan.scheduler == "constant" || plan.scheduler == "constant_with_warmup") {
    lr = plan.learning_rate;
  }
  const int run_steps = step - first_step;
  const double per_step = run_steps > 0 ? elapsed_seconds / run_steps : 0.0;
  return OrderedJson{{"current_steps", step},
                     {"total_steps", plan.total_steps},
                     {"loss", round_to(fake_loss(step), 4)},
                     {"lr", lr},
                     {"epoch", round_to(plan.epochs * progress, 2)},
                     {"percentage", round_to(progress * 100.0, 2)},
                     {"elapsed_time", format_duration(elapsed_seconds)},
                     {"remaining_time", format_duration((plan.total_steps - step) * per_step)}};
}

TrainOutcome run_training(const TrainPlan& plan, bool write_log, const std::atomic<bool>& stop,
                          std::ostream& out) {
  std::ofstream log;
  const auto log_path = plan.output_dir / kTrainerLog;
  TrainOutcome outcome;
  if (write_log) {
    std::error_code ec;
    std::filesystem::create_directories(plan.output_dir, ec);
    if (plan.overwrite) std::filesystem::remove(log_path, ec);
    log.open(log_path, std::ios::app);
    if (!log) throw std::runtime_error("cannot write " + log_path.string());
    if (!plan.overwrite) {
      outcome.resumed_from = std::min(newest_checkpoint(plan.output_dir), plan.total_steps);
    }
  }
  out << "standin train: " << plan.total_steps << " steps of " << plan.step_seconds << " s"
      << (write_log ? ", logging to " + log_path.string() : std::string(", not the main rank"))
      << std::endl;
  if (outcome.resumed_from > 0) {
    // LLaMA-Factory's own words when it resumes (hparams/parser.py).
    out << "Resuming training from "
        << (plan.output_dir / ("checkpoint-" + std::to_string(outcome.resumed_from))).string()
        << "." << std::endl;
  }

  const auto start = std::chrono::steady_clock::now();
  outcome.steps_done = outcome.resumed_from;
  double loss_sum = 0;
  for (int step = outcome.resumed_from + 1; step <= plan.total_steps; ++step) {
    sleep_unless_stopped(plan.step_seconds, stop);
    if (stop.load()) {
      outcome.stopped = true;
      break;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The time per step of this run only: a resumed run's first steps are not free.
    const OrderedJson entry = log_entry(plan, step, elapsed, outcome.resumed_from);
    loss_sum += entry["loss"].get<double>();
    if (write_log) {
      log << entry.dump() << "\n" << std::flush;
      if (!log) throw std::runtime_error("cannot write " + log_path.string());
    }
    out << entry.dump() << std::endl;
    outcome.steps_done = step;
    if (write_log && step % plan.save_steps == 0 && step < plan.total_steps) {
      save_checkpoint(plan, step);
    }
    if (write_log && plan.fail_at_step == step &&
        !std::filesystem::exists(fail_marker(plan.output_dir, step))) {
      std::ofstream(fail_marker(plan.output_dir, step)) << "failed once on purpose\n";
      out << "standin train: failing at step " << step << " as standin_fail_at_step asks (once)"
          << std::endl;
      outcome.failed = true;
      return outcome;
    }
  }
  if (write_log && !outcome.stopped) {
    const double runtime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Json results = {
        {"epoch", plan.epochs},
        {"train_loss",
         round_to(loss_sum / std::max(1, plan.total_steps - outcome.resumed_from), 4)},
        {"train_runtime", round_to(runtime, 4)},
        {"standin", true}};
    std::ofstream f(plan.output_dir / "train_results.json", std::ios::trunc);
    f << results.dump(4) << "\n";
  }
  return outcome;
}

}  // namespace ascend::standin
