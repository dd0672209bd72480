// Benchmark of ascend-device-plugin (issue 3), not a test: runs the real binary on a fake
// 16-chip device tree with a fake kubelet, and measures through the unix socket
//   - Allocate and GetPreferredAllocation latency (p50/p99/max over 10,000 calls),
//   - time from a device node vanishing to Unhealthy on the kubelet's ListAndWatch stream,
//   - resident memory and CPU at idle (kubelet connected, default 5 s health interval).
// Usage: plugin_bench [--calls N] [--idle-seconds S] [--binary PATH]
//   --binary runs another build of the plugin (e.g. to compare link variants); the default is
//   the ascend-device-plugin of this build tree.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/deviceplugin.grpc.pb.h"
#include "plugin/testing/fake_host.hpp"
#include "plugin/testing/fake_kubelet.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace testing = ascend::plugin::testing;

constexpr int kChips = 16;

struct Stats {
  double p50_us, p99_us, max_us;
};

Stats summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))];
  };
  return {at(0.50), at(0.99), us.back()};
}

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// A field of /proc/<pid>/status in KiB ("VmRSS", "RssAnon", "RssFile").
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field + ":")) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// /proc/<pid>/smaps_rollup: the fields that explain RSS, in KiB.
void print_rollup(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  std::printf("smaps_rollup:");
  while (std::getline(in, line)) {
    for (const char* field : {"Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                              "Private_Dirty", "Anonymous"}) {
      if (line.starts_with(std::string(field) + ":")) {
        std::printf(" %s %ld", field, std::stol(line.substr(std::strlen(field) + 1)));
      }
    }
  }
  std::printf(" (KiB)\n");
}

// Resident pages by mapping, from /proc/<pid>/smaps: each file-backed mapping summed by the
// file's name (text, data and relro of one library together), anonymous mappings as one line.
void print_resident_by_mapping(pid_t pid) {
  struct Usage {
    long rss = 0;
    long private_dirty = 0;
  };
  std::map<std::string, Usage> by_name;
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const bool header =
        std::isxdigit(static_cast<unsigned char>(line[0])) != 0 && line.find('-') < line.find(' ');
    if (header) {
      std::istringstream fields(line);
      std::string range, perms, offset, device, inode, path;
      fields >> range >> perms >> offset >> device >> inode;
      std::getline(fields >> std::ws, path);
      if (path.empty()) {
        current = "[anonymous]";
      } else if (path.starts_with("[")) {
        current = path;
      } else {
        current = std::filesystem::path(path).filename().string();
      }
    } else if (line.starts_with("Rss:")) {
      by_name[current].rss += std::stol(line.substr(4));
    } else if (line.starts_with("Private_Dirty:")) {
      by_name[current].private_dirty += std::stol(line.substr(14));
    }
  }
  std::vector<std::pair<std::string, Usage>> sorted(by_name.begin(), by_name.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.rss > b.second.rss; });
  std::printf("resident by mapping (KiB, Rss / of which Private_Dirty):\n");
  long others = 0;
  long others_dirty = 0;
  int others_count = 0;
  for (const auto& [name, usage] : sorted) {
    if (usage.rss >= 64) {
      std::printf("  %7ld %6ld  %s\n", usage.rss, usage.private_dirty, name.c_str());
    } else {
      others += usage.rss;
      others_dirty += usage.private_dirty;
      ++others_count;
    }
  }
  std::printf("  %7ld %6ld  (%d more mappings under 64 KiB each)\n", others, others_dirty,
              others_count);
}

// utime + stime of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);  // one line
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i <= 13; ++i)
    fields >> skip;  // fields 3..13
  long utime = 0;
  long stime = 0;
  fields >> utime >> stime;
  return utime + stime;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 10000;
  int idle_seconds = 30;
  std::string binary = ASCEND_DEVICE_PLUGIN_BINARY;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--calls") == 0) calls = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--idle-seconds") == 0) idle_seconds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--binary") == 0) binary = argv[i + 1];
  }

  ascend::kube::testing::TempDir dir;
  testing::make_device_tree(dir / "dev", kChips);
  std::filesystem::create_directories(dir / "plugins");
  testing::FakeKubelet kubelet(dir / "plugins");
  kubelet.start();

  const std::vector<std::string> args = {binary,
                                         "--socket-dir=" + (dir / "plugins").string(),
                                         "--device-root=" + (dir / "dev").string(),
                                         "--allow-regular-device-files",
                                         "--discovery=devfs",
                                         "--http-address=off",
                                         "--log-level=warn"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> cargs;
    cargs.reserve(args.size() + 1);
    for (const auto& a : args)
      cargs.push_back(const_cast<char*>(a.c_str()));  // NOLINT
    cargs.push_back(nullptr);
    ::execv(binary.c_str(), cargs.data());
    std::perror("execv");
    std::_Exit(127);
  }
  if (!kubelet.wait_for_registration(1, 20s)) {
    std::fprintf(stderr, "plugin did not register\n");
    ::kill(pid, SIGTERM);
    return 1;
  }
  auto stub = kubelet.dial("Ascend910.sock");

  // The kubelet keeps one ListAndWatch stream open; so does the bench.
  grpc::ClientContext watch_context;
  auto watch = stub->ListAndWatch(&watch_context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse list;
  if (!watch->Read(&list) || list.devices_size() != kChips) {
    std::fprintf(stderr, "unexpected first device list\n");
    ::kill(pid, SIGTERM);
    return 1;
  }

  std::printf("ascend-device-plugin benchmark: %d chips, %d calls, fake device tree in %s\n",
              kChips, calls, dir.path().c_str());
  std::printf("binary: %s\n", binary.c_str());

  // Allocate: one container, 8 chips (a whole half), different halves in turn.
  {
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(calls));
    for (int i = 0; i < calls; ++i) {
      v1beta1::AllocateRequest request;
      auto* c = request.add_container_requests();
      for (int id = 0; id < 8; ++id)
        c->add_devices_ids("Ascend910-" + std::to_string(id + 8 * (i % 2)));
      grpc::ClientContext context;
      v1beta1::AllocateResponse response;
      const auto start = Clock::now();
      const grpc::Status status = stub->Allocate(&context, request, &response);
      us.push_back(micros(Clock::now() - start));
      if (!status.ok()) {
        std::fprintf(stderr, "Allocate failed: %s\n", status.error_message().c_str());
        return 1;
      }
    }
    const Stats s = summarize(us);
    std::printf("Allocate (8 chips)            p50 %7.1f us  p99 %7.1f us  max %8.1f us\n",
                s.p50_us, s.p99_us, s.max_us);
  }

  // GetPreferredAllocation: random free sets and sizes 1/2/4/8.
  {
    std::mt19937 rng(42);
    const int sizes[] = {1, 2, 4, 8};
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(calls));
    for (int i = 0; i < calls; ++i) {
      v1beta1::PreferredAllocationRequest request;
      auto* c = request.add_container_requests();
      int free = 0;
      for (int id = 0; id < kChips; ++id) {
        if (rng() % 4 != 0) {
          c->add_available_deviceids("Ascend910-" + std::to_string(id));
          ++free;
        }
      }
      int size = sizes[rng() % 4];
      while (size > free)
        size /= 2;
      c->set_allocation_size(std::max(size, 1));
      grpc::ClientContext context;
      v1beta1::PreferredAllocationResponse response;
      const auto start = Clock::now();
      const grpc::Status status = stub->GetPreferredAllocation(&context, request, &response);
      us.push_back(micros(Clock::now() - start));
      if (!status.ok()) {
        std::fprintf(stderr, "GetPreferredAllocation failed: %s\n", status.error_message().c_str());
        return 1;
      }
    }
    const Stats s = summarize(us);
    std::printf("GetPreferredAllocation        p50 %7.1f us  p99 %7.1f us  max %8.1f us\n",
                s.p50_us, s.p99_us, s.max_us);
  }

  // A device node vanishes: time until the stream shows it Unhealthy (and back on recovery).
  {
    std::vector<double> fault_us;
    std::vector<double> recover_us;
    for (int round = 0; round < 50; ++round) {
      const std::string name = "davinci" + std::to_string(round % kChips);
      const std::string id = "Ascend910-" + std::to_string(round % kChips);
      for (bool vanish : {true, false}) {
        const auto start = Clock::now();
        if (vanish) {
          std::filesystem::remove(dir / "dev" / name);
        } else {
          ascend::kube::testing::write_file(dir / "dev" / name);
        }
        const std::string want = vanish ? "Unhealthy" : "Healthy";
        bool seen = false;
        while (!seen && watch->Read(&list)) {
          for (const auto& d : list.devices())
            seen = seen || (d.id() == id && d.health() == want);
        }
        if (!seen) {
          std::fprintf(stderr, "stream ended\n");
          return 1;
        }
        (vanish ? fault_us : recover_us).push_back(micros(Clock::now() - start));
      }
    }
    const Stats f = summarize(fault_us);
    const Stats r = summarize(recover_us);
    std::printf(
        "node vanished -> Unhealthy    p50 %7.1f us  p99 %7.1f us  max %8.1f us  (50 faults)\n",
        f.p50_us, f.p99_us, f.max_us);
    std::printf("node back     -> Healthy      p50 %7.1f us  p99 %7.1f us  max %8.1f us\n",
                r.p50_us, r.p99_us, r.max_us);
  }

  // Idle: the kubelet connected, nothing happening but the 5 s health poll.
  {
    std::this_thread::sleep_for(2s);
    const long ticks_before = cpu_ticks(pid);
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
    const long ticks = cpu_ticks(pid) - ticks_before;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu_percent =
        100.0 * static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
    auto mib = [&](const char* field) {
      return static_cast<double>(status_kib(pid, field)) / 1024;
    };
    std::printf("idle over %ds: CPU %.3f%% of one core (%ld ticks)\n", idle_seconds, cpu_percent,
                ticks);
    std::printf("RSS %.1f MiB (anonymous %.1f MiB, shared-library and file pages %.1f MiB)\n",
                mib("VmRSS"), mib("RssAnon"), mib("RssFile"));
    print_rollup(pid);
    print_resident_by_mapping(pid);
  }

  watch_context.TryCancel();
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::printf("plugin exited with %d; socket removed: %s\n", WEXITSTATUS(status),
              std::filesystem::exists(dir / "plugins/Ascend910.sock") ? "no" : "yes");
  return 0;
}
