#include "kube/informer.hpp"

namespace ascend::kube {

Informer::Informer(ClientPtr client, Resource type, WatcherOptions options)
    : type_(std::move(type)),
      store_(std::make_shared<Store>()),
      watcher_(std::make_unique<Watcher>(std::move(client), type_, store_, std::move(options))) {}

Informer::~Informer() {
  stop();
}

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { watcher_->run(); });
}

void Informer::stop() {
  watcher_->stop();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!store_->synced()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace ascend::kube
