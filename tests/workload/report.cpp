#include "tests/workload/report.hpp"

#include <unistd.h>

#include <sstream>

#include "tests/workload/version.hpp"

namespace ascend::standin {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo (octal).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

Json device_file_json(const DeviceFile& f) {
  Json j = {{"path", f.path}, {"exists", f.exists}, {"char_device", f.char_device}};
  if (!f.numbers.empty()) j["numbers"] = f.numbers;
  return j;
}

Json path_json(const std::string& path, const ReportInput& in) {
  std::error_code ec;
  const auto host = in.root / std::filesystem::path(path).relative_path();
  Json j = {{"exists", std::filesystem::exists(host, ec)}, {"mounted", false}};
  // The last mount at a path is the one in effect.
  for (auto it = in.mounts.rbegin(); it != in.mounts.rend(); ++it) {
    if (it->mount_point == path) {
      j["mounted"] = true;
      j["fs_type"] = it->fs_type;
      j["read_only"] = it->read_only;
      break;
    }
  }
  return j;
}

}  // namespace

std::vector<MountInfo> parse_mountinfo(std::istream& in) {
  std::vector<MountInfo> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id;
    std::string parent;
    std::string devno;
    std::string root;
    std::string mount_point;
    std::string options;
    if (!(fields >> id >> parent >> devno >> root >> mount_point >> options)) continue;
    std::string tok;
    while (fields >> tok && tok != "-") {
    }
    std::string fs_type;
    fields >> fs_type;
    MountInfo m;
    m.mount_point = unescape(mount_point);
    m.fs_type = fs_type;
    m.read_only = options == "ro" || options.rfind("ro,", 0) == 0;
    out.push_back(std::move(m));
  }
  return out;
}

std::string report_file_name(int rank) {
  return "standin-report-" + std::to_string(rank) + ".json";
}

Json build_report(const ReportInput& in) {
  Json checks = Json::array();
  for (const Check& c : in.devices.checks)
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  Json chips = Json::array();
  for (const DeviceFile& f : in.devices.chips)
    chips.push_back(device_file_json(f));
  Json shared = Json::object();
  for (const DeviceFile& f : in.devices.shared)
    shared[f.path] = device_file_json(f);

  Json env = Json::object();
  for (const auto& [k, v] : in.env) {
    if (k.rfind("ASCEND_", 0) == 0) env[k] = v;
  }
  for (const std::string& k : kReportedEnv) {
    const auto it = in.env.find(k);
    env[k] = it == in.env.end() ? Json(nullptr) : Json(it->second);
  }

  Json volumes = Json::object();
  for (const std::string& p : kVolumePaths)
    volumes[p] = path_json(p, in);
  Json driver = Json::object();
  for (const std::string& p : kDriverPaths)
    driver[p] = path_json(p, in);

  return Json{
      {"standin", true},
      {"what", std::string(kStandinBanner)},
      {"version", std::string(kStandinVersion)},
      {"mode", in.mode},
      {"rank", in.rank},
      {"config_path", in.config_path ? Json(*in.config_path) : Json(nullptr)},
      {"config", in.config},
      {"device_check",
       {{"ok", in.devices.ok()}, {"skipped", in.device_check_skipped}, {"checks", checks}}},
      {"devices",
       {{"requested", in.devices.requested},
        {"seen", in.devices.seen},
        {"chips", chips},
        {"shared", shared}}},
      {"env", env},
      {"volumes", volumes},
      {"driver", driver},
      {"uid", ::getuid()},
  };
}

}  // namespace ascend::standin
