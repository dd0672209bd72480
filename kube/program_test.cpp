#include "kube/program.hpp"

#include <gtest/gtest.h>

#include <future>
#include <initializer_list>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop

namespace ascend::kube {
namespace {

struct Flags {
  CLI::App app{"a test program", "test-program"};
  std::string taint = "default-taint";
  std::string address = ":8080";
  bool verbose = false;
  Flags() {
    app.set_version_flag("--version", "test-program 1.2.3");
    app.add_option("--taint", taint, "a taint");
    app.add_option("--address", address, "an address");
    app.add_flag("--verbose", verbose, "say more");
  }
  std::optional<CommandLineExit> parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"test-program"};
    for (const char* arg : args)
      argv.push_back(arg);
    return parse_command_line(app, static_cast<int>(argv.size()), argv.data());
  }
};

TEST(CommandLine, EmptyValueAfterEqualsIsTheEmptyString) {
  Flags f;
  EXPECT_FALSE(f.parse({"--taint=", "--address=:9090", "--verbose"}).has_value());
  EXPECT_EQ(f.taint, "");
  EXPECT_EQ(f.address, ":9090");
  EXPECT_TRUE(f.verbose) << "the flag after --taint= is not swallowed";
}

TEST(CommandLine, HelpAndVersionExitZeroWithTheirText) {
  Flags help;
  const auto h = help.parse({"--help"});
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->code, 0);
  EXPECT_NE(h->message.find("--taint"), std::string::npos) << h->message;
  Flags version;
  const auto v = version.parse({"--version"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->code, 0);
  EXPECT_EQ(v->message, "test-program 1.2.3");
}

TEST(CommandLine, BadFlagExitsTwoWithOneLineNamingTheProgram) {
  Flags f;
  const auto bad = f.parse({"--no-such-flag"});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->code, 2);
  EXPECT_TRUE(bad->message.starts_with("test-program: ")) << bad->message;
  EXPECT_NE(bad->message.find("--no-such-flag"), std::string::npos) << bad->message;
  EXPECT_TRUE(bad->message.ends_with(" (see --help)")) << bad->message;
  EXPECT_EQ(bad->message.find('\n'), std::string::npos) << bad->message;
}

TEST(StartLogging, RejectsABadLevel) {
  EXPECT_TRUE(start_logging("test-program", {"info", "text"}));
  EXPECT_FALSE(start_logging("test-program", {"loud", "text"}));
}

TEST(StopSource, ManualStopWakesTheWaiterWithTheReason) {
  ManualStop stop;
  EXPECT_FALSE(stop.requested());
  auto waiter = std::async(std::launch::async, [&] { return stop.wait(); });
  stop.request("test");
  stop.request("second request is ignored");
  EXPECT_EQ(waiter.get(), "test");
  EXPECT_FALSE(stop.requested()) << "wait() took the request";
}

TEST(StopSource, SignalsStayPendingUntilWaitTakesThem) {
  // This test process has one thread, so the blocked SIGTERM can only stay pending.
  limit_malloc_arenas();
  StopSignals signals;
  EXPECT_FALSE(signals.requested());
  signals.request("lease lost");
  EXPECT_TRUE(signals.requested());
  EXPECT_EQ(signals.wait(), "SIGTERM");
  EXPECT_FALSE(signals.requested());
}

}  // namespace
}  // namespace ascend::kube
