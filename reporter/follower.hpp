// Following LLaMA-Factory's trainer_log.jsonl: the lines a run appends after the reporter
// started, newest complete line first, and the checkpoint a run resumed from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ascend::reporter {

inline constexpr const char* kTrainerLog = "trainer_log.jsonl";

/// The step of the newest `checkpoint-<N>` folder in `dir` (0 when none), as transformers'
/// get_last_checkpoint picks it.
std::int64_t newest_checkpoint(const std::filesystem::path& dir);

/// Where trainer_log.jsonl is: in `output_dir`, else in the most recently changed folder one
/// level below it (a ConfigMap config may name any output_dir under the output volume);
/// std::nullopt when there is none yet.
std::optional<std::filesystem::path> find_trainer_log(const std::filesystem::path& output_dir);

/// Reads a growing file: each poll() returns the newest complete progress line appended since
/// the last one (a line with current_steps), or std::nullopt. Lines already in the file when
/// the follower started belong to earlier runs and are skipped; a file that shrank or was
/// replaced (overwrite_output_dir) is read again from its start; a partial last line waits for
/// its newline; lines that are not JSON objects (NaN losses, eval lines without steps) are
/// skipped.
class LogFollower final {
 public:
  /// `skip_existing`: start at the file's current end (true for a reporter that starts with
  /// the training); false reads it from the start.
  LogFollower(std::filesystem::path file, bool skip_existing);
  std::optional<nlohmann::json> poll();

 private:
  std::filesystem::path file_;
  std::uintmax_t offset_ = 0;
  std::uintmax_t inode_ = 0;
  std::string partial_;
};

/// The report posted for `line`: the line itself plus resumed_from_step, which is
/// `checkpoint_at_start` when the run went on past it (its first step came after the
/// checkpoint), else 0.
nlohmann::json make_report(const nlohmann::json& line, std::int64_t checkpoint_at_start,
                           std::optional<std::int64_t> first_step);

}  // namespace ascend::reporter
