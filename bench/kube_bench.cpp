// kube/ against the test bed's real kube-apiserver, side by side with the pinned kubectl:
//   1. live watch: a forked writer creates N ConfigMaps in parallel while an Informer and
//      `kubectl get --watch-only` both watch; when each has seen the last one, and CPU per
//      1,000 events (getrusage: this process for the informer, the kubectl child for kubectl);
//   2. watch replay: a watch from the version before the writes, straight into a Store, as
//      fast as the client can take it (the apiserver's watch cache holds the events): events/s,
//      CPU per 1,000 events, RSS growth per cached object;
//   3. paged list of the N objects: Client::list with limit=500 vs
//      `kubectl get configmaps -A -o json --chunk-size=500`.
// Run by bench/run_kube_bench.sh (starts the test bed); flags: --objects N --writers W.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.hpp"
#include "kube/informer.hpp"
#include "kube/logging.hpp"
#include "tests/kube/testbed.hpp"

namespace {

using namespace ascend::kube;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  const auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 20);
}

Json config_map(const std::string& ns, int i) {
  // About 400 bytes of data each: the size of a small real ConfigMap.
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", "bench-" + std::to_string(i)},
            {"namespace", ns},
            {"labels", {{"bench", "kube"}, {"shard", std::to_string(i % 16)}}}}},
          {"data", {{"payload", std::string(400, static_cast<char>('a' + i % 26))}}}};
}

// The forked writer: waits for a byte on `go`, creates `objects` ConfigMaps with `writers`
// threads, writes its elapsed seconds to `done` and exits. Forked before any thread exists.
[[noreturn]] void writer_process(int go, int done, const std::string& ns, int objects,
                                 int writers) {
  char byte = 0;
  if (::read(go, &byte, 1) != 1) ::_exit(2);
  auto bed = testbed::TestBed::from_env();
  if (!bed) ::_exit(3);
  auto client = bed.value().admin_client(5000, 5000);
  if (!client) ::_exit(4);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(writers));
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      for (int i = next++; i < objects; i = next++) {
        auto r = client.value()->create(resources::kConfigMaps, config_map(ns, i));
        if (!r && !r.error().already_exists()) ++failures;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  const std::string line =
      std::to_string(seconds_since(started)) + " " + std::to_string(failures.load()) + "\n";
  if (::write(done, line.data(), line.size()) < 0) ::_exit(5);
  ::_exit(0);
}

// `kubectl get configmaps --watch-only -o name` as a child whose output lines we count.
class KubectlWatch final {
 public:
  KubectlWatch(const testbed::TestBed& bed, const std::string& ns, int expect) : expect_(expect) {
    const std::string cmd = "echo $$; exec " + testbed::quote(bed.kubectl_path()) +
                            " --kubeconfig " + testbed::quote(bed.kubeconfig()) + " -n " +
                            testbed::quote(ns) +
                            " get configmaps -l bench=kube --watch-only -o name";
    pipe_ = ::popen(cmd.c_str(), "r");
    thread_ = std::thread([this] { read(); });
  }
  KubectlWatch(const KubectlWatch&) = delete;
  KubectlWatch& operator=(const KubectlWatch&) = delete;
  ~KubectlWatch() { finish(); }

  /// Seconds from `start` to the expect-th line, or -1.
  double done_after(Clock::time_point start) {
    thread_.join();
    return seen_ >= expect_ ? std::chrono::duration<double>(last_ - start).count() : -1;
  }
  /// Stops kubectl; returns the CPU seconds it used.
  double finish() {
    if (pipe_ == nullptr) return 0;
    if (thread_.joinable()) thread_.join();
    const double before = cpu_seconds(RUSAGE_CHILDREN);
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    ::pclose(pipe_);
    pipe_ = nullptr;
    return cpu_seconds(RUSAGE_CHILDREN) - before;
  }
  [[nodiscard]] int seen() const { return seen_; }

 private:
  void read() {
    std::array<char, 512> line{};
    if (std::fgets(line.data(), line.size(), pipe_) != nullptr) pid_ = std::atoi(line.data());
    while (seen_ < expect_ && std::fgets(line.data(), line.size(), pipe_) != nullptr) {
      ++seen_;
      last_ = Clock::now();
    }
  }
  int expect_;
  FILE* pipe_ = nullptr;
  std::thread thread_;
  pid_t pid_ = 0;
  int seen_ = 0;
  Clock::time_point last_;
};

struct Options {
  int objects = 10000;
  int writers = 16;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--objects") o.objects = std::stoi(argv[i + 1]);
    if (flag == "--writers") o.writers = std::stoi(argv[i + 1]);
  }
  return o;
}

int run(const Options& o, int go, int done) {
  auto bed_r = testbed::TestBed::from_env();
  if (!bed_r) {
    std::cerr << bed_r.error().to_string() << "\n";
    return 1;
  }
  const auto& bed = bed_r.value();
  auto client = bed.admin_client(5000, 5000).value();
  const std::string ns = "kube-bench";
  auto made =
      client->create(resources::kNamespaces,
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!made && !made.error().already_exists()) {
    std::cerr << "cannot create namespace: " << made.error().to_string() << "\n";
    return 1;
  }

  // ---- 1. live watch: informer and kubectl watch the same creates
  WatcherOptions wo;
  wo.ns = ns;
  wo.label_selector = "bench=kube";
  Informer informer(client, resources::kConfigMaps, wo);
  informer.start();
  if (!informer.wait_for_sync(std::chrono::seconds(30))) {
    std::cerr << "informer did not sync\n";
    return 1;
  }
  const std::string rv_before = informer.watcher().resource_version();
  KubectlWatch kubectl_watch(bed, ns, o.objects);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // kubectl's list and watch are open
  const double rss_before_live = rss_mib();
  const double cpu_before_live = cpu_seconds(RUSAGE_SELF);
  const auto start = Clock::now();
  if (::write(go, "g", 1) != 1) return 1;
  std::array<char, 128> reply{};
  const ssize_t n = ::read(done, reply.data(), reply.size() - 1);
  const std::string writer_line =
      n > 0 ? std::string(reply.data(), static_cast<std::size_t>(n)) : "";
  const double write_seconds = std::atof(writer_line.c_str());
  const int write_failures = std::atoi(writer_line.substr(writer_line.find(' ') + 1).c_str());
  while (informer.store()->size() < static_cast<std::size_t>(o.objects) &&
         seconds_since(start) < 600) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double ours_done = seconds_since(start);
  const double cpu_live = cpu_seconds(RUSAGE_SELF) - cpu_before_live;
  const double rss_live = rss_mib() - rss_before_live;
  const std::size_t cached = informer.store()->size();
  const double kubectl_done = kubectl_watch.done_after(start);
  const int kubectl_seen = kubectl_watch.seen();
  const double kubectl_cpu = kubectl_watch.finish();
  int status = 0;
  ::wait(&status);

  std::printf("objects %d, writers %d, writer failures %d\n", o.objects, o.writers, write_failures);
  std::printf("live   create %d ConfigMaps: %.2f s (%.0f creates/s, the apiserver's write rate)\n",
              o.objects, write_seconds, o.objects / write_seconds);
  std::printf(
      "live   informer has all %zu: %.2f s after the first create (%.0f events/s), "
      "%.3f s after the last\n",
      cached, ours_done, static_cast<double>(cached) / ours_done, ours_done - write_seconds);
  std::printf("live   kubectl --watch-only saw %d: %.2f s (%.0f events/s)\n", kubectl_seen,
              kubectl_done, kubectl_seen / kubectl_done);
  std::printf(
      "live   CPU per 1,000 events: informer %.1f ms, kubectl %.1f ms (kubectl/ours %.2f)\n",
      cpu_live * 1000 / (static_cast<double>(cached) / 1000.0),
      kubectl_cpu * 1000 / (kubectl_seen / 1000.0),
      (kubectl_cpu / kubectl_seen) / (cpu_live / static_cast<double>(cached)));
  std::printf("live   RSS growth %.1f MiB = %.2f KiB per cached object\n", rss_live,
              rss_live * 1024 / static_cast<double>(cached));

  // ---- 2. replay: a watch from before the writes into a fresh Store
  {
    auto store = std::make_shared<Store>();
    const double rss0 = rss_mib();
    const double cpu0 = cpu_seconds(RUSAGE_SELF);
    const auto t0 = Clock::now();
    WatchOptions w;
    w.resource_version = rv_before;
    w.label_selector = "bench=kube";
    w.timeout_seconds = 120;
    auto opened = client->watch(resources::kConfigMaps, ns, w);
    int events = 0;
    std::string failure;
    if (!opened) failure = opened.error().to_string();
    while (opened && store->size() < static_cast<std::size_t>(o.objects)) {
      auto e = opened.value()->next();
      if (!e || !e.value()) {
        failure = e ? "stream ended" : e.error().to_string();
        break;
      }
      if (e.value()->type == "ERROR") {
        failure = error_from_status(e.value()->object).to_string();
        break;
      }
      ++events;
      if (e.value()->type != "BOOKMARK") store->apply(std::move(e.value()->object));
    }
    const double secs = seconds_since(t0);
    const double cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
    const double rss_replay = rss_mib() - rss0;
    if (!failure.empty())
      std::printf("replay failed after %d events: %s\n", events, failure.c_str());
    std::printf(
        "replay %d events into a Store: %.2f s (%.0f events/s), CPU %.1f ms per 1,000 "
        "events (%.0f%% of one core)\n",
        events, secs, events / secs, cpu * 1000 / (events / 1000.0), 100 * cpu / secs);
    std::printf("replay RSS growth %.1f MiB = %.2f KiB per cached object\n", rss_replay,
                rss_replay * 1024 / static_cast<double>(std::max<std::size_t>(1, store->size())));
    // The same events without the network: decode each line and apply it to a Store, to
    // split the client's cost between the transport (cpprestsdk) and decoding plus caching.
    std::vector<std::string> lines;
    for (const auto& obj : store->list())
      lines.push_back(Json{{"type", "ADDED"}, {"object", *obj}}.dump());
    auto offline = std::make_shared<Store>();
    const double cpu1 = cpu_seconds(RUSAGE_SELF);
    const auto t1 = Clock::now();
    for (const auto& line : lines) {
      Json j = Json::parse(line);
      offline->apply(std::move(j["object"]));
    }
    const double offline_secs = seconds_since(t1);
    const double offline_cpu = cpu_seconds(RUSAGE_SELF) - cpu1;
    std::printf(
        "replay decode + Store::apply alone (no network): %.1f ms CPU per 1,000 events "
        "(%.0f events/s on one core): the rest of the replay's CPU is the transport\n",
        offline_cpu * 1000 / (static_cast<double>(lines.size()) / 1000.0),
        static_cast<double>(lines.size()) / offline_secs);
  }
  informer.stop();

  // ---- 3. paged list, ours vs kubectl, best of three each
  double ours_best = 1e9;
  double kubectl_best = 1e9;
  int pages = 0;
  std::size_t listed = 0;
  for (int round = 0; round < 3; ++round) {
    ListOptions lo;
    lo.limit = 500;
    pages = 0;
    listed = 0;
    const auto t0 = Clock::now();
    for (;;) {
      auto page = client->list_page(resources::kConfigMaps, "", lo);
      if (!page) {
        std::cerr << "list failed: " << page.error().to_string() << "\n";
        return 1;
      }
      ++pages;
      listed += page.value().items.size();
      if (page.value().continue_token.empty()) break;
      lo.continue_token = page.value().continue_token;
    }
    ours_best = std::min(ours_best, seconds_since(t0));
    const auto t1 = Clock::now();
    const auto k = bed.kubectl("get configmaps -A -o json --chunk-size=500 >/dev/null");
    if (k.exit_code != 0) std::cerr << "kubectl get failed\n";
    kubectl_best = std::min(kubectl_best, seconds_since(t1));
  }
  std::printf("list   %zu ConfigMaps (all namespaces), limit=500: %d pages, %.3f s (best of 3)\n",
              listed, pages, ours_best);
  std::printf(
      "list   kubectl get configmaps -A -o json --chunk-size=500: %.3f s (best of 3, "
      "process start included); kubectl/ours %.2f\n",
      kubectl_best, kubectl_best / ours_best);
  const double t_ver = [&] {
    const auto t0 = Clock::now();
    (void)bed.kubectl("version --client -o json >/dev/null");
    return seconds_since(t0);
  }();
  std::printf("list   (kubectl's start-up alone, `kubectl version --client`: %.3f s)\n", t_ver);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::array<int, 2> go{};
  std::array<int, 2> done{};
  if (::pipe(go.data()) != 0 || ::pipe(done.data()) != 0) return 1;
  auto bed = ascend::kube::testbed::TestBed::from_env();
  if (!bed) {
    std::cerr << bed.error().to_string() << "\n";
    return 1;
  }
  const pid_t child = ::fork();
  if (child == 0) writer_process(go[0], done[1], "kube-bench", o.objects, o.writers);
  (void)ascend::kube::setup_logging({.level = "warn"});
  return run(o, go[1], done[0]);
}
