#include "tests/workload/device_check.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <regex>
#include <set>
#include <sstream>

namespace ascend::standin {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) {
    if (!out.empty()) out += ",";
    out += std::to_string(id);
  }
  return out;
}

std::string join_paths(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) {
    if (!out.empty()) out += ", ";
    out += "/dev/davinci" + std::to_string(id);
  }
  return out;
}

DeviceFile inspect(const std::filesystem::path& host, const std::string& shown) {
  DeviceFile f;
  f.path = shown;
  struct stat st {};
  if (::stat(host.c_str(), &st) != 0) return f;
  f.exists = true;
  f.char_device = S_ISCHR(st.st_mode);
  if (f.char_device) {
    f.numbers = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  }
  return f;
}

std::string describe(const DeviceFile& f) {
  if (!f.exists) return "missing";
  if (f.char_device) return "character device " + f.numbers;
  return "exists but is not a character device";
}

}  // namespace

bool DeviceReport::ok() const {
  return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

std::optional<std::vector<int>> parse_id_list(const std::string& text) {
  std::vector<int> ids;
  std::set<int> seen;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    part = trim(part);
    int id = -1;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), id);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || id < 0) {
      return std::nullopt;
    }
    if (!seen.insert(id).second) return std::nullopt;
    ids.push_back(id);
  }
  if (!text.empty() && text.back() == ',') return std::nullopt;
  return ids;
}

DeviceReport check_devices(const DeviceCheckOptions& options, const EnvLookup& env) {
  DeviceReport r;
  r.visible_env = env("ASCEND_VISIBLE_DEVICES");
  r.rt_visible_env = env("ASCEND_RT_VISIBLE_DEVICES");

  // What the container sees: every davinci<N> under the device root.
  static const std::regex kChip(R"(davinci([0-9]+))");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.dev_root, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, kChip)) r.seen.push_back(std::stoi(m[1].str()));
  }
  std::sort(r.seen.begin(), r.seen.end());
  for (int id : r.seen) {
    const std::string name = "davinci" + std::to_string(id);
    r.chips.push_back(inspect(options.dev_root / name, "/dev/" + name));
  }

  // 1. ASCEND_VISIBLE_DEVICES is set and well formed.
  std::optional<std::vector<int>> requested;
  if (!r.visible_env) {
    r.checks.push_back({"ASCEND_VISIBLE_DEVICES", false,
                        "not set: no NPUs were allocated to this container (does the pod "
                        "request huawei.com/Ascend910, and is the device plugin running?)"});
  } else if (!(requested = parse_id_list(*r.visible_env)) || requested->empty()) {
    r.checks.push_back({"ASCEND_VISIBLE_DEVICES", false,
                        "'" + *r.visible_env + "' is not a list of distinct chip ids like 0,1"});
  } else {
    r.requested = *requested;
    r.checks.push_back({"ASCEND_VISIBLE_DEVICES", true,
                        *r.visible_env + " (" + std::to_string(r.requested.size()) +
                            (r.requested.size() == 1 ? " chip)" : " chips)")});
  }

  // 2. The davinci<N> files are exactly the allocated chips.
  {
    std::vector<int> want = r.requested;
    std::sort(want.begin(), want.end());
    std::vector<int> missing;
    std::vector<int> extra;
    std::set_difference(want.begin(), want.end(), r.seen.begin(), r.seen.end(),
                        std::back_inserter(missing));
    std::set_difference(r.seen.begin(), r.seen.end(), want.begin(), want.end(),
                        std::back_inserter(extra));
    std::vector<int> not_char;
    if (options.require_char_devices) {
      for (size_t i = 0; i < r.chips.size(); ++i) {
        if (!r.chips[i].char_device) not_char.push_back(r.seen[i]);
      }
    }
    Check c{"device files", missing.empty() && extra.empty() && not_char.empty(), ""};
    if (c.ok) {
      c.detail = "sees exactly " + (r.seen.empty() ? std::string("no chips") : join_paths(r.seen));
    } else {
      c.detail =
          "sees " + (r.seen.empty() ? std::string("no /dev/davinci<N>") : join_paths(r.seen));
      if (!missing.empty()) c.detail += "; missing " + join_paths(missing);
      if (!extra.empty()) c.detail += "; not allocated but visible " + join_paths(extra);
      if (!not_char.empty()) c.detail += "; not character devices " + join_paths(not_char);
    }
    r.checks.push_back(std::move(c));
  }

  // 3. The shared device files.
  for (const std::string& name : kSharedDevices) {
    DeviceFile f = inspect(options.dev_root / name, "/dev/" + name);
    const bool ok = f.exists && (f.char_device || !options.require_char_devices);
    r.checks.push_back({f.path, ok, describe(f)});
    r.shared.push_back(std::move(f));
  }

  // 4. ASCEND_RT_VISIBLE_DEVICES numbers the chips 0..n-1 (what torch_npu sees).
  {
    std::vector<int> want(r.requested.size());
    for (size_t i = 0; i < want.size(); ++i)
      want[i] = static_cast<int>(i);
    const std::string expect = want.empty() ? "0..n-1" : join(want);
    if (!r.rt_visible_env) {
      r.checks.push_back({"ASCEND_RT_VISIBLE_DEVICES", false, "not set; want " + expect});
    } else {
      const auto got = parse_id_list(*r.rt_visible_env);
      const bool ok = got && !want.empty() && *got == want;
      r.checks.push_back({"ASCEND_RT_VISIBLE_DEVICES", ok,
                          ok ? *r.rt_visible_env : "'" + *r.rt_visible_env + "', want " + expect});
    }
  }

  // 5. NPROC_PER_NODE, when set, is the number of chips (one process per chip).
  if (const auto nproc = env("NPROC_PER_NODE")) {
    const std::string want = std::to_string(r.requested.size());
    const bool ok = trim(*nproc) == want && !r.requested.empty();
    r.checks.push_back(
        {"NPROC_PER_NODE", ok, ok ? *nproc : "'" + *nproc + "', want " + want + " (one per chip)"});
  }
  return r;
}

std::string format_checks(const std::vector<Check>& checks) {
  std::string out;
  for (const Check& c : checks) {
    out += c.ok ? "[ok]   " : "[FAIL] ";
    out += c.name + ": " + c.detail + "\n";
  }
  return out;
}

}  // namespace ascend::standin
