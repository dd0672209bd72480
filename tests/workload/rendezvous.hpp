// The stand-in's stand-in for torchrun's rendezvous across nodes: rank 0 listens on
// MASTER_PORT, every other rank resolves MASTER_ADDR (the headless Service's DNS name, which
// appears a little after the pod starts) and connects; each says "rank N hello" and rank 0
// answers once all ranks are there. This proves pod-to-pod networking and DNS, nothing more.
#pragma once

#include <atomic>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace ascend::standin {

struct RendezvousOptions {
  int nnodes = 1;
  int rank = 0;
  std::string master_addr;
  int port = 29500;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  int listen_fd = -1;  // rank 0: an already listening socket to use (tests; -1: listen on port)
};

struct RendezvousResult {
  bool ok = false;
  std::string message;             // what happened, for the log
  std::vector<std::string> lines;  // the hello lines received
};

// Blocks until every rank is there, the timeout passes or `stop` is set.
RendezvousResult rendezvous(const RendezvousOptions& options, const std::atomic<bool>& stop,
                            std::ostream& log);

// "rank 3 hello" -> 3; -1 when the line is something else.
int parse_hello(const std::string& line);

}  // namespace ascend::standin
