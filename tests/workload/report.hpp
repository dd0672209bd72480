// The stand-in's report of what the container saw: devices, Ascend and distributed-training
// environment, volumes and driver mounts. Written to /app/output/standin-report-<rank>.json
// and printed on stdout as one line `standin-report: {...}`, for tests to read.
#pragma once

#include <filesystem>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/workload/device_check.hpp"

namespace ascend::standin {

using Json = nlohmann::json;

struct MountInfo {
  std::string mount_point;
  std::string fs_type;
  bool read_only = false;
};

// Parses /proc/self/mountinfo (mount points with \040-style escapes decoded).
std::vector<MountInfo> parse_mountinfo(std::istream& in);

// The workload volumes the operator mounts, and the driver paths the device plugin mounts.
inline const std::vector<std::string> kVolumePaths = {
    "/root/.cache/huggingface", "/root/.cache/modelscope", "/app/data", "/app/output", "/dev/shm",
    "/etc/llamafactory"};
inline const std::vector<std::string> kDriverPaths = {"/usr/local/Ascend/driver", "/usr/local/dcmi",
                                                      "/usr/local/bin/npu-smi",
                                                      "/etc/ascend_install.info", "/etc/hccn.conf"};
// Environment variables reported besides every ASCEND_*.
inline const std::vector<std::string> kReportedEnv = {
    "NNODES",         "NODE_RANK",          "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE",
    "FORCE_TORCHRUN", "GRADIO_SERVER_PORT", "API_PORT",    "HOSTNAME"};

struct ReportInput {
  std::string mode;
  int rank = 0;
  std::optional<std::string> config_path;
  Json config = Json::object();
  DeviceReport devices;
  std::map<std::string, std::string> env;  // the whole environment
  std::vector<MountInfo> mounts;
  std::filesystem::path root = "/";  // where the paths above are looked up (tests)
  bool device_check_skipped = false;
};

Json build_report(const ReportInput& input);

// /app/output/standin-report-<rank>.json (the folder is STANDIN_REPORT_DIR in tests).
std::string report_file_name(int rank);

}  // namespace ascend::standin
