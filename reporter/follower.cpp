#include "reporter/follower.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>

namespace ascend::reporter {

std::int64_t newest_checkpoint(const std::filesystem::path& dir) {
  std::int64_t newest = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    constexpr std::string_view kPrefix = "checkpoint-";
    if (!it->is_directory(ec) || name.size() <= kPrefix.size() || !name.starts_with(kPrefix)) {
      continue;
    }
    const std::string digits = name.substr(kPrefix.size());
    if (digits.size() > 15 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    newest = std::max<std::int64_t>(newest, std::stoll(digits));
  }
  return newest;
}

std::optional<std::filesystem::path> find_trainer_log(const std::filesystem::path& output_dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(output_dir / kTrainerLog, ec))
    return output_dir / kTrainerLog;
  std::optional<std::filesystem::path> best;
  std::filesystem::file_time_type best_time;
  for (std::filesystem::directory_iterator it(output_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto candidate = it->path() / kTrainerLog;
    std::error_code e;
    if (!it->is_directory(e) || !std::filesystem::is_regular_file(candidate, e)) continue;
    const auto t = std::filesystem::last_write_time(candidate, e);
    if (!e && (!best || t > best_time)) {
      best = candidate;
      best_time = t;
    }
  }
  return best;
}

LogFollower::LogFollower(std::filesystem::path file, bool skip_existing) : file_(std::move(file)) {
  struct stat st {};
  if (skip_existing && stat(file_.c_str(), &st) == 0) {
    offset_ = static_cast<std::uintmax_t>(st.st_size);
    inode_ = st.st_ino;
  }
}

std::optional<nlohmann::json> LogFollower::poll() {
  struct stat st {};
  if (stat(file_.c_str(), &st) != 0) return std::nullopt;
  const auto size = static_cast<std::uintmax_t>(st.st_size);
  if ((inode_ != 0 && st.st_ino != inode_) || size < offset_) {
    offset_ = 0;  // replaced or truncated: a new run's log
    partial_.clear();
  }
  inode_ = st.st_ino;
  if (size == offset_) return std::nullopt;
  std::ifstream in(file_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk(size - offset_, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  offset_ += chunk.size();
  partial_ += chunk;
  std::optional<nlohmann::json> newest;
  std::size_t start = 0;
  for (std::size_t nl = partial_.find('\n'); nl != std::string::npos;
       nl = partial_.find('\n', start)) {
    const nlohmann::json line =
        nlohmann::json::parse(partial_.begin() + static_cast<std::ptrdiff_t>(start),
                              partial_.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    if (line.is_object() && line.contains("current_steps") && line.contains("total_steps")) {
      newest = line;
    }
    start = nl + 1;
  }
  partial_.erase(0, start);
  return newest;
}

nlohmann::json make_report(const nlohmann::json& line, std::int64_t checkpoint_at_start,
                           std::optional<std::int64_t> first_step) {
  nlohmann::json report = line;
  const bool resumed = checkpoint_at_start > 0 && first_step && *first_step > checkpoint_at_start;
  report["resumed_from_step"] = resumed ? checkpoint_at_start : 0;
  return report;
}

}  // namespace ascend::reporter
