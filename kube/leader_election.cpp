#include "kube/leader_election.hpp"

#include <random>

#include "kube/logging.hpp"
#include "kube/object_meta.hpp"

namespace ascend::kube {
namespace {

LeaseRecord record_of(const Json& lease) {
  LeaseRecord r;
  const Json spec = lease.value("spec", Json::object());
  r.holder = spec.value("holderIdentity", std::string());
  r.lease_duration_seconds = spec.value("leaseDurationSeconds", 0);
  r.acquire_time = spec.value("acquireTime", std::string());
  r.renew_time = spec.value("renewTime", std::string());
  r.transitions = spec.value("leaseTransitions", 0);
  return r;
}

}  // namespace

LeaderElector::LeaderElector(ClientPtr client, LeaderElectionOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Json LeaderElector::lease_object(const LeaseRecord& record,
                                 const std::string& resource_version) const {
  Json metadata = {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}};
  if (!resource_version.empty()) metadata["resourceVersion"] = resource_version;
  Json spec = {{"holderIdentity", record.holder},
               {"leaseDurationSeconds", record.lease_duration_seconds},
               {"leaseTransitions", record.transitions}};
  if (!record.acquire_time.empty()) spec["acquireTime"] = record.acquire_time;
  if (!record.renew_time.empty()) spec["renewTime"] = record.renew_time;
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", metadata},
          {"spec", spec}};
}

bool LeaderElector::try_acquire_or_renew() {
  const SteadyTime now = options_.clock->now();
  const std::string now_text = format_micro_time(options_.clock->wall_now());
  const int duration_seconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  LeaseRecord mine{options_.identity, duration_seconds, now_text, now_text, 0};

  auto current = client_->get(resources::kLeases, options_.lease_namespace, options_.lease_name);
  if (!current) {
    if (!current.error().not_found()) {
      report("cannot read the Lease", current.error());
      return false;
    }
    auto created =
        client_->create(resources::kLeases, lease_object(mine, ""), options_.lease_namespace);
    if (!created) {
      // A namespace that does not exist answers 404 here: without this line the replica
      // never leads and says nothing.
      report("cannot create the Lease", created.error());
      return false;
    }
    last_error_.clear();
    const std::lock_guard lock(mutex_);
    observed_ = mine;
    observed_time_ = now;
    return true;
  }

  const LeaseRecord old = record_of(current.value());
  bool held_by_other = false;
  bool new_holder = false;
  {
    const std::lock_guard lock(mutex_);
    new_holder = old.holder != observed_.holder;
    if (!(old == observed_)) {
      observed_ = old;
      observed_time_ = now;
    }
    const Duration held_for = old.lease_duration_seconds > 0
                                  ? std::chrono::seconds(old.lease_duration_seconds)
                                  : options_.lease_duration;
    held_by_other =
        !old.holder.empty() && old.holder != options_.identity && observed_time_ + held_for > now;
  }
  if (held_by_other) {
    if (new_holder && options_.on_new_leader) options_.on_new_leader(old.holder);
    return false;  // someone else holds an unexpired lease
  }

  if (old.holder == options_.identity) {
    mine.acquire_time = old.acquire_time;
    mine.transitions = old.transitions;
  } else {
    mine.transitions = old.transitions + 1;
  }
  auto updated =
      client_->update(resources::kLeases, lease_object(mine, resource_version(current.value())));
  if (!updated) {
    log::info(
        "leader election: lease update failed",
        {log::kv("lease", options_.lease_name), log::kv("error", updated.error().to_string())});
    return false;
  }
  const std::lock_guard lock(mutex_);
  observed_ = mine;
  observed_time_ = now;
  return true;
}

bool LeaderElector::wait(Duration d) {
  std::unique_lock lock(mutex_);
  const SteadyTime deadline = options_.clock->now() + d;
  while (!stopped_ && options_.clock->now() < deadline) {
    options_.clock->wait_until(cv_, lock, deadline);
  }
  return !stopped_;
}

void LeaderElector::set_leading(bool leading) {
  {
    const std::lock_guard lock(mutex_);
    leading_ = leading;
  }
  if (options_.metrics) options_.metrics->leader(options_.lease_name, leading);
  log::info(leading ? "became leader" : "stopped leading",
            {log::kv("lease", options_.lease_namespace + "/" + options_.lease_name),
             log::kv("identity", options_.identity)});
}

LeaderElector::Outcome LeaderElector::run() {
  std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(1.0, 1.2);  // client-go JitterFactor 1.2
  const auto jittered = [&] {
    return std::chrono::duration_cast<Duration>(options_.retry_period * jitter(random));
  };
  // Campaign.
  while (!try_acquire_or_renew()) {
    if (!wait(jittered())) return Outcome::kStopped;
  }
  set_leading(true);
  if (options_.on_new_leader) options_.on_new_leader(options_.identity);
  if (options_.on_started_leading) options_.on_started_leading();

  // Renew every retry_period; give up once renew_deadline passed since the last success.
  SteadyTime last_renew = options_.clock->now();
  for (;;) {
    if (!wait(options_.retry_period)) {
      release();
      set_leading(false);
      if (options_.on_stopped_leading) options_.on_stopped_leading();
      return Outcome::kStopped;
    }
    if (try_acquire_or_renew()) {
      last_renew = options_.clock->now();
      continue;
    }
    const bool taken = [&] {
      const std::lock_guard lock(mutex_);
      return !observed_.holder.empty() && observed_.holder != options_.identity;
    }();
    if (taken || options_.clock->now() - last_renew >= options_.renew_deadline) {
      set_leading(false);
      if (options_.on_stopped_leading) options_.on_stopped_leading();
      return Outcome::kLost;
    }
  }
}

void LeaderElector::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void LeaderElector::report(const char* what, const Error& error) {
  const std::string text = error.to_string();
  if (text == last_error_) return;
  last_error_ = text;
  std::string hint;
  if (error.not_found()) {
    hint = "does namespace " + options_.lease_namespace + " exist? (--leader-election-namespace)";
  } else if (error.code == 403) {
    hint =
        "the ServiceAccount needs get, create and update on leases in " + options_.lease_namespace;
  }
  log::warn(std::string("leader election: ") + what + "; retrying",
            {log::kv("lease", options_.lease_namespace + "/" + options_.lease_name),
             log::kv("error", text), log::kv("hint", hint)});
}

void LeaderElector::release() {
  auto current = client_->get(resources::kLeases, options_.lease_namespace, options_.lease_name);
  if (!current) return;
  const LeaseRecord old = record_of(current.value());
  if (old.holder != options_.identity) return;
  const std::string now_text = format_micro_time(options_.clock->wall_now());
  // client-go's release: empty holder, a one-second duration, fresh times.
  LeaseRecord released{"", 1, now_text, now_text, old.transitions};
  auto r = client_->update(resources::kLeases,
                           lease_object(released, resource_version(current.value())));
  if (!r) {
    log::warn("leader election: release failed; successors wait for expiry",
              {log::kv("error", r.error().to_string())});
    return;
  }
  const std::lock_guard lock(mutex_);
  observed_ = released;
  observed_time_ = options_.clock->now();
}

bool LeaderElector::is_leader() const {
  const std::lock_guard lock(mutex_);
  return leading_;
}

std::string LeaderElector::observed_holder() const {
  const std::lock_guard lock(mutex_);
  return observed_.holder;
}

}  // namespace ascend::kube
