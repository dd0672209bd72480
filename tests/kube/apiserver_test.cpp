// kube/ against the real kube-apiserver of the control-plane test bed (tests/testbed), not the
// fake one: CRUD and /status on a real CRD, errors as the server words them, an informer that
// survives a restarted apiserver and etcd compaction, Lease leader election, RBAC through a
// ServiceAccount token, and TLS with the wrong CA. Run by tests/kube/apiserver_test.sh, which
// starts the test bed, applies manifests/widget-crd.yaml and exports what TestBed::from_env
// reads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/informer.hpp"
#include "kube/leader_election.hpp"
#include "kube/testing/test_certs.hpp"
#include "tests/kube/testbed.hpp"

namespace ascend::kube {
namespace {

using namespace std::chrono_literals;
using testbed::TestBed;

const Resource kWidgets{"kubetest.ascend-factory.io", "v1", "widgets", "Widget", true};

TestBed& bed() {
  static TestBed instance = [] {
    auto b = TestBed::from_env();
    if (!b) {
      ADD_FAILURE() << b.error().to_string();
      std::abort();
    }
    return b.value();
  }();
  return instance;
}

ClientPtr admin() {
  static ClientPtr client = [] {
    auto c = bed().admin_client();
    if (!c) {
      ADD_FAILURE() << c.error().to_string();
      std::abort();
    }
    return c.value();
  }();
  return client;
}

// Namespaces are suffixed per run, so the binary can run twice against one test bed.
std::string ns_name(const std::string& base) {
  static const std::string suffix = [] {
    std::mt19937 random(std::random_device{}());
    std::string s;
    for (int i = 0; i < 5; ++i)
      s += "abcdefghijklmnopqrstuvwxyz"[random() % 26];
    return s;
  }();
  return base + "-" + suffix;
}

void ensure_namespace(const std::string& name) {
  auto r = admin()->create(
      resources::kNamespaces,
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
  ASSERT_TRUE(r || r.error().already_exists()) << r.error().to_string();
}

Json widget(const std::string& ns, const std::string& name, int replicas) {
  return {{"apiVersion", kWidgets.api_version()},
          {"kind", kWidgets.kind},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"replicas", replicas}}}};
}

Json config_map(const std::string& ns, const std::string& name,
                const Json& labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", {{"k", name}}}};
}

bool eventually(const std::function<bool()>& done, Duration timeout,
                std::chrono::milliseconds every = 100ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

std::string name_of(const Json& object) {
  return object.value("metadata", Json::object()).value("name", std::string());
}

// --------------------------------------------------------------------------------------- CRUD

TEST(RealApiServer, WidgetCrudPatchesApplyAndStatus) {
  const std::string ns = ns_name("crud");
  ensure_namespace(ns);
  auto client = admin();

  auto created = client->create(kWidgets, widget(ns, "w", 1));
  ASSERT_TRUE(created) << created.error().to_string();
  EXPECT_FALSE(created.value()["metadata"].value("uid", std::string()).empty());
  EXPECT_EQ(created.value()["metadata"].value("generation", 0), 1);

  auto got = client->get(kWidgets, ns, "w");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got.value()["spec"]["replicas"], 1);

  // PUT of the whole object, optimistic on its resourceVersion.
  Json changed = got.value();
  changed["spec"]["replicas"] = 2;
  auto updated = client->update(kWidgets, changed);
  ASSERT_TRUE(updated) << updated.error().to_string();
  EXPECT_EQ(updated.value()["spec"]["replicas"], 2);
  EXPECT_EQ(updated.value()["metadata"].value("generation", 0), 2);

  // Merge patch (RFC 7386): null removes a key, absent keys stay.
  auto merged =
      client->patch(kWidgets, ns, "w", PatchType::kMerge,
                    {{"spec", {{"color", "red"}}}, {"metadata", {{"labels", {{"tier", "a"}}}}}});
  ASSERT_TRUE(merged) << merged.error().to_string();
  EXPECT_EQ(merged.value()["spec"]["color"], "red");
  EXPECT_EQ(merged.value()["spec"]["replicas"], 2);
  merged = client->patch(kWidgets, ns, "w", PatchType::kMerge,
                         {{"metadata", {{"labels", {{"tier", nullptr}}}}}});
  ASSERT_TRUE(merged) << merged.error().to_string();
  EXPECT_FALSE(merged.value()["metadata"].value("labels", Json::object()).contains("tier"));

  // JSON patch (RFC 6902): a failing `test` op leaves the object alone.
  auto jp =
      client->patch(kWidgets, ns, "w", PatchType::kJson,
                    Json::array({{{"op", "test"}, {"path", "/spec/replicas"}, {"value", 2}},
                                 {{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 3}}}));
  ASSERT_TRUE(jp) << jp.error().to_string();
  EXPECT_EQ(jp.value()["spec"]["replicas"], 3);
  jp = client->patch(kWidgets, ns, "w", PatchType::kJson,
                     Json::array({{{"op", "test"}, {"path", "/spec/replicas"}, {"value", 99}},
                                  {{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 4}}}));
  ASSERT_FALSE(jp);
  EXPECT_GE(jp.error().code, 400);
  EXPECT_EQ(client->get(kWidgets, ns, "w").value()["spec"]["replicas"], 3);

  // Server-side apply: a second manager taking a field conflicts unless it forces.
  Json intent = widget(ns, "applied", 5);
  intent["spec"]["color"] = "green";
  auto applied = client->apply(kWidgets, intent, "kubetest-a", false);
  ASSERT_TRUE(applied) << applied.error().to_string();
  EXPECT_EQ(applied.value()["spec"]["color"], "green");
  Json rival = widget(ns, "applied", 5);
  rival["spec"]["color"] = "blue";
  auto refused = client->apply(kWidgets, rival, "kubetest-b", false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 409);
  EXPECT_EQ(refused.error().reason, "Conflict");
  EXPECT_NE(refused.error().message.find("kubetest-a"), std::string::npos)
      << refused.error().message;
  auto forced = client->apply(kWidgets, rival, "kubetest-b", true);
  ASSERT_TRUE(forced) << forced.error().to_string();
  EXPECT_EQ(forced.value()["spec"]["color"], "blue");
  bool b_owns_color = false;
  for (const auto& mf : forced.value()["metadata"]["managedFields"]) {
    if (mf.value("manager", "") == "kubetest-b" && mf.dump().find("f:color") != std::string::npos) {
      b_owns_color = true;
    }
  }
  EXPECT_TRUE(b_owns_color) << forced.value()["metadata"]["managedFields"].dump();

  // /status: spec is ignored there, status is ignored on the object itself.
  Json with_status = client->get(kWidgets, ns, "w").value();
  const int generation = with_status["metadata"].value("generation", 0);
  with_status["status"] = {{"phase", "Ready"}, {"observedGeneration", generation}};
  with_status["spec"]["replicas"] = 42;
  auto status = client->update_status(kWidgets, with_status);
  ASSERT_TRUE(status) << status.error().to_string();
  EXPECT_EQ(status.value()["status"]["phase"], "Ready");
  EXPECT_EQ(status.value()["status"]["observedGeneration"], generation);
  EXPECT_EQ(status.value()["spec"]["replicas"], 3);
  Json sneaky = status.value();
  sneaky["status"]["phase"] = "Hacked";
  auto plain = client->update(kWidgets, sneaky);
  ASSERT_TRUE(plain) << plain.error().to_string();
  EXPECT_EQ(plain.value()["status"]["phase"], "Ready");
  auto status_patch =
      client->patch(kWidgets, ns, "w", PatchType::kMerge, {{"status", {{"phase", "Done"}}}},
                    {"kubetest", false, "status"});
  ASSERT_TRUE(status_patch) << status_patch.error().to_string();
  EXPECT_EQ(status_patch.value()["status"]["phase"], "Done");
  auto applied_status = client->apply(
      kWidgets,
      {{"metadata", {{"name", "applied"}, {"namespace", ns}}}, {"status", {{"phase", "Applied"}}}},
      "kubetest-status", true, "status");
  ASSERT_TRUE(applied_status) << applied_status.error().to_string();
  EXPECT_EQ(applied_status.value()["status"]["phase"], "Applied");

  for (const char* name : {"w", "applied"}) {
    auto removed = client->remove(kWidgets, ns, name);
    ASSERT_TRUE(removed) << removed.error().to_string();
    auto gone = client->get(kWidgets, ns, name);
    ASSERT_FALSE(gone);
    EXPECT_TRUE(gone.error().not_found());
  }
}

TEST(RealApiServer, PagedListOf120ConfigMaps) {
  const std::string ns = ns_name("paging");
  ensure_namespace(ns);
  auto client = admin();
  for (int i = 0; i < 120; ++i) {
    auto r = client->create(
        resources::kConfigMaps,
        config_map(ns, "cm-" + std::to_string(i), {{"parity", i % 2 == 0 ? "even" : "odd"}}));
    ASSERT_TRUE(r) << r.error().to_string();
  }
  // Page by page with a continue token: a consistent read from etcd in pages of 25.
  ListOptions o;
  o.limit = 25;
  o.label_selector = "parity";  // ours only, not the controller-manager's kube-root-ca.crt
  std::set<std::string> names;
  int pages = 0;
  std::string first_rv;
  for (;;) {
    auto page = client->list_page(resources::kConfigMaps, ns, o);
    ASSERT_TRUE(page) << page.error().to_string();
    ++pages;
    if (pages == 1) first_rv = page.value().resource_version;
    EXPECT_LE(page.value().items.size(), 25U);
    for (const auto& item : page.value().items) {
      EXPECT_EQ(item.value("kind", ""), "ConfigMap");  // restored for list items
      EXPECT_TRUE(names.insert(name_of(item)).second) << "duplicate " << name_of(item);
    }
    if (page.value().continue_token.empty()) break;
    o.continue_token = page.value().continue_token;
    ASSERT_LT(pages, 20) << "continue tokens do not end";
  }
  EXPECT_EQ(names.size(), 120U);
  EXPECT_EQ(pages, 5);  // 120 / 25 rounded up
  EXPECT_FALSE(first_rv.empty());

  ListOptions all;
  all.limit = 25;
  all.label_selector = "parity in (even,odd)";
  auto everything = client->list(resources::kConfigMaps, ns, all);
  ASSERT_TRUE(everything) << everything.error().to_string();
  EXPECT_EQ(everything.value().items.size(), 120U);
  EXPECT_FALSE(everything.value().resource_version.empty());

  ListOptions even;
  even.limit = 7;
  even.label_selector = "parity=even";
  auto evens = client->list(resources::kConfigMaps, ns, even);
  ASSERT_TRUE(evens) << evens.error().to_string();
  EXPECT_EQ(evens.value().items.size(), 60U);
}

TEST(RealApiServer, ErrorsAreDecodedIntoValues) {
  const std::string ns = ns_name("errors");
  ensure_namespace(ns);
  auto client = admin();

  auto missing = client->get(kWidgets, ns, "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.error().reason, "NotFound");
  EXPECT_NE(missing.error().message.find("\"nope\" not found"), std::string::npos)
      << missing.error().message;
  auto missing_delete = client->remove(kWidgets, ns, "nope");
  ASSERT_FALSE(missing_delete);
  EXPECT_TRUE(missing_delete.error().not_found());

  auto first = client->create(kWidgets, widget(ns, "twice", 1));
  ASSERT_TRUE(first) << first.error().to_string();
  auto second = client->create(kWidgets, widget(ns, "twice", 1));
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().already_exists()) << second.error().to_string();

  // Two writers from the same read: the second is a 409 Conflict, not AlreadyExists.
  Json a = first.value();
  Json b = first.value();
  a["spec"]["replicas"] = 2;
  b["spec"]["replicas"] = 3;
  ASSERT_TRUE(client->update(kWidgets, a));
  auto stale = client->update(kWidgets, b);
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().conflict());
  EXPECT_FALSE(stale.error().already_exists());
  EXPECT_EQ(stale.error().reason, "Conflict");
  EXPECT_FALSE(stale.error().retryable());
  // A delete precondition on a stale version is a Conflict too.
  DeleteOptions precondition;
  precondition.resource_version = first.value()["metadata"].value("resourceVersion", "");
  auto stale_delete = client->remove(kWidgets, ns, "twice", precondition);
  ASSERT_FALSE(stale_delete);
  EXPECT_TRUE(stale_delete.error().conflict()) << stale_delete.error().to_string();

  // The CRD's schema says replicas >= 0: 422 Invalid naming the field.
  auto invalid = client->create(kWidgets, widget(ns, "negative", -1));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, 422);
  EXPECT_EQ(invalid.error().reason, "Invalid");
  EXPECT_NE(invalid.error().message.find("spec.replicas"), std::string::npos)
      << invalid.error().message;
  // A name the server refuses: 422 naming metadata.name.
  auto bad_name = client->create(resources::kConfigMaps, config_map(ns, "Not_A_DNS_Name"));
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, 422);
  EXPECT_NE(bad_name.error().message.find("metadata.name"), std::string::npos)
      << bad_name.error().message;
}

TEST(RealApiServer, DeletePropagationForegroundAndOrphan) {
  const std::string ns = ns_name("propagation");
  ensure_namespace(ns);
  auto client = admin();
  const auto family = [&](const std::string& suffix) {
    auto parent = client->create(resources::kConfigMaps, config_map(ns, "parent-" + suffix));
    EXPECT_TRUE(parent) << parent.error().to_string();
    Json child = config_map(ns, "child-" + suffix);
    child["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "v1"},
                                                         {"kind", "ConfigMap"},
                                                         {"name", "parent-" + suffix},
                                                         {"uid", parent.value()["metadata"]["uid"]},
                                                         {"controller", true},
                                                         {"blockOwnerDeletion", true}}});
    auto c = client->create(resources::kConfigMaps, child);
    EXPECT_TRUE(c) << c.error().to_string();
  };
  family("fg");
  family("orphan");

  // Foreground: the parent stays (with the foregroundDeletion finalizer) until the garbage
  // collector has deleted the child, then goes too.
  DeleteOptions fg;
  fg.propagation = Propagation::kForeground;
  auto deleting = client->remove(resources::kConfigMaps, ns, "parent-fg", fg);
  ASSERT_TRUE(deleting) << deleting.error().to_string();
  EXPECT_TRUE(deleting.value()["metadata"].contains("deletionTimestamp"));
  EXPECT_NE(deleting.value()["metadata"]
                .value("finalizers", Json::array())
                .dump()
                .find("foregroundDeletion"),
            std::string::npos);
  EXPECT_TRUE(eventually(
      [&] {
        return !client->get(resources::kConfigMaps, ns, "child-fg") &&
               !client->get(resources::kConfigMaps, ns, "parent-fg");
      },
      90s));

  // Orphan: the parent goes, the child stays without its owner reference.
  DeleteOptions orphan;
  orphan.propagation = Propagation::kOrphan;
  ASSERT_TRUE(client->remove(resources::kConfigMaps, ns, "parent-orphan", orphan));
  EXPECT_TRUE(
      eventually([&] { return !client->get(resources::kConfigMaps, ns, "parent-orphan"); }, 90s));
  auto child = client->get(resources::kConfigMaps, ns, "child-orphan");
  ASSERT_TRUE(child) << child.error().to_string();
  EXPECT_TRUE(child.value()["metadata"].value("ownerReferences", Json::array()).empty());

  // Background (the API default for most types) with a uid precondition for the wrong uid.
  DeleteOptions wrong_uid;
  wrong_uid.uid = "00000000-0000-0000-0000-000000000000";
  auto refused = client->remove(resources::kConfigMaps, ns, "child-orphan", wrong_uid);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().conflict()) << refused.error().to_string();
}

// ------------------------------------------------------------------------------- leader election

struct Candidate {
  ClientPtr client;
  std::unique_ptr<LeaderElector> elector;
  std::thread thread;
  std::atomic<int> outcome{-1};

  Candidate(const std::string& identity, const LeaderElectionOptions& base) {
    client = bed().admin_client(20, 40).value();
    LeaderElectionOptions o = base;
    o.identity = identity;
    elector = std::make_unique<LeaderElector>(client, o);
    thread = std::thread([this] { outcome = static_cast<int>(elector->run()); });
  }
  Candidate(const Candidate&) = delete;
  Candidate& operator=(const Candidate&) = delete;
  ~Candidate() {
    elector->stop();
    if (thread.joinable()) thread.join();
  }
};

TEST(RealApiServer, LeaderElectionHandsOverAndNeverHasTwoLeaders) {
  const std::string ns = ns_name("election");
  ensure_namespace(ns);
  LeaderElectionOptions base;
  base.lease_namespace = ns;
  base.lease_name = "kubetest";
  base.lease_duration = 6s;
  base.renew_deadline = 4s;
  base.retry_period = 1s;

  std::mutex mutex;
  std::vector<Candidate*> candidates;
  std::atomic<bool> sampling{true};
  std::atomic<int> samples{0};
  std::atomic<int> two_leaders{0};
  std::thread sampler([&] {
    while (sampling) {
      {
        const std::lock_guard lock(mutex);
        int leaders = 0;
        for (auto* c : candidates)
          leaders += c->elector->is_leader() ? 1 : 0;
        if (leaders > 1) ++two_leaders;
        ++samples;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  const auto join = [&](Candidate* c) {
    const std::lock_guard lock(mutex);
    candidates.push_back(c);
  };
  const auto leave = [&](Candidate* c) {
    const std::lock_guard lock(mutex);
    std::erase(candidates, c);
  };

  auto a = std::make_unique<Candidate>("candidate-a", base);
  join(a.get());
  ASSERT_TRUE(eventually([&] { return a->elector->is_leader(); }, 15s));
  auto b = std::make_unique<Candidate>("candidate-b", base);
  join(b.get());
  std::this_thread::sleep_for(3s);  // several of b's retries: it must keep waiting
  EXPECT_TRUE(a->elector->is_leader());
  EXPECT_FALSE(b->elector->is_leader());
  EXPECT_EQ(b->elector->observed_holder(), "candidate-a");

  // A leader that stops releases the lease: b takes over well within the lease duration.
  auto stopped_at = std::chrono::steady_clock::now();
  a->elector->stop();
  a->thread.join();
  EXPECT_EQ(a->outcome, static_cast<int>(LeaderElector::Outcome::kStopped));
  EXPECT_FALSE(a->elector->is_leader());
  ASSERT_TRUE(eventually([&] { return b->elector->is_leader(); }, base.lease_duration, 5ms));
  const auto release_handover = std::chrono::steady_clock::now() - stopped_at;
  leave(a.get());
  a.reset();

  // A leader that dies (its connection cut, no release): c takes over once the lease expires
  // on c's clock, i.e. within the lease duration of b's last renewal plus one retry period.
  auto c = std::make_unique<Candidate>("candidate-c", base);
  join(c.get());
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(c->elector->is_leader());
  const auto killed_at = std::chrono::steady_clock::now();
  b->client->shutdown();
  ASSERT_TRUE(eventually([&] { return c->elector->is_leader(); },
                         base.lease_duration + 2 * base.retry_period, 5ms));
  const auto kill_handover = std::chrono::steady_clock::now() - killed_at;
  b->thread.join();
  EXPECT_EQ(b->outcome, static_cast<int>(LeaderElector::Outcome::kLost));

  sampling = false;
  sampler.join();
  EXPECT_GT(samples.load(), 1000);
  EXPECT_EQ(two_leaders.load(), 0) << "two candidates were leading at the same instant";
  auto lease = admin()->get(resources::kLeases, ns, "kubetest");
  ASSERT_TRUE(lease) << lease.error().to_string();
  EXPECT_EQ(lease.value()["spec"]["holderIdentity"], "candidate-c");
  EXPECT_EQ(lease.value()["spec"]["leaseTransitions"], 2);
  std::cout << "handover after release: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(release_handover).count()
            << " ms; after a leader died: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(kill_handover).count()
            << " ms (lease " << base.lease_duration.count() / 1'000'000'000 << " s)\n";
  {
    const std::lock_guard lock(mutex);
    candidates.clear();
  }
  c.reset();
  b.reset();
}

// ------------------------------------------------------------------------------- identity, TLS

TEST(RealApiServer, ServiceAccountTokenIsLimitedToItsRole) {
  const std::string ns = ns_name("sa-test");
  const std::string elsewhere = ns_name("sa-elsewhere");
  ensure_namespace(ns);
  ensure_namespace(elsewhere);
  for (const std::string& args :
       {"-n " + ns + " create serviceaccount reader",
        "-n " + ns + " create role cm-reader --verb=get,list,watch --resource=configmaps",
        "-n " + ns + " create rolebinding reader-cm --role=cm-reader --serviceaccount=" + ns +
            ":reader"}) {
    const auto r = bed().kubectl(args);
    ASSERT_EQ(r.exit_code, 0) << "kubectl " << args;
  }
  ASSERT_TRUE(admin()->create(resources::kConfigMaps, config_map(ns, "visible")));
  const auto token = bed().kubectl("-n " + ns + " create token reader --duration=1h");
  ASSERT_EQ(token.exit_code, 0);
  ASSERT_GT(token.output.size(), 100U);

  auto config = load_kubeconfig(bed().kubeconfig());
  ASSERT_TRUE(config) << config.error().to_string();
  Config sa = config.value();
  sa.client_cert_pem.clear();
  sa.client_key_pem.clear();
  sa.token = token.output.substr(0, token.output.find_last_not_of(" \n") + 1);
  sa.source = "service account " + ns + "/reader";
  auto client = Client::from_config(sa);
  ASSERT_TRUE(client) << client.error().to_string();
  auto c = client.value();

  // What the Role grants.
  auto got = c->get(resources::kConfigMaps, ns, "visible");
  ASSERT_TRUE(got) << got.error().to_string();
  auto listed = c->list(resources::kConfigMaps, ns);
  ASSERT_TRUE(listed) << listed.error().to_string();
  EXPECT_GE(listed.value().items.size(), 1U);
  WatchOptions w;
  w.resource_version = listed.value().resource_version;
  w.timeout_seconds = 1;
  auto watch = c->watch(resources::kConfigMaps, ns, w);
  ASSERT_TRUE(watch) << watch.error().to_string();

  // Everything else is a 403 naming the service account.
  const auto forbidden = [&ns](const Error& e, const std::string& what) {
    EXPECT_EQ(e.code, 403) << what << ": " << e.to_string();
    EXPECT_EQ(e.reason, "Forbidden") << what;
    EXPECT_NE(e.message.find("system:serviceaccount:" + ns + ":reader"), std::string::npos)
        << what << ": " << e.message;
  };
  auto create = c->create(resources::kConfigMaps, config_map(ns, "written"));
  ASSERT_FALSE(create);
  forbidden(create.error(), "create in its namespace");
  auto other_ns = c->list(resources::kConfigMaps, elsewhere);
  ASSERT_FALSE(other_ns);
  forbidden(other_ns.error(), "list in another namespace");
  auto all_ns = c->list(resources::kConfigMaps, "");
  ASSERT_FALSE(all_ns);
  forbidden(all_ns.error(), "list across namespaces");
  auto pods = c->list(resources::kPods, ns);
  ASSERT_FALSE(pods);
  forbidden(pods.error(), "list pods");
  auto del = c->remove(resources::kConfigMaps, ns, "visible");
  ASSERT_FALSE(del);
  forbidden(del.error(), "delete");
  auto watch_pods = c->watch(resources::kPods, ns, w);
  ASSERT_FALSE(watch_pods);
  forbidden(watch_pods.error(), "watch pods");

  // A token the server never issued is a 401.
  Config forged = sa;
  forged.token = "not-a-token";
  auto intruder = Client::from_config(forged).value();
  auto denied = intruder->get(resources::kConfigMaps, ns, "visible");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, 401) << denied.error().to_string();
  EXPECT_EQ(denied.error().reason, "Unauthorized");
}

TEST(RealApiServer, WrongCertificateAuthorityIsRefused) {
  auto config = load_kubeconfig(bed().kubeconfig());
  ASSERT_TRUE(config) << config.error().to_string();
  const auto certs = testing::TestCerts::generate();
  ASSERT_FALSE(certs.dir.empty()) << "openssl is needed to make a second CA";
  Config wrong = config.value();
  wrong.ca_pem = testing::TestCerts::read(certs.other_ca_crt);
  auto client = Client::from_config(wrong);
  ASSERT_TRUE(client) << client.error().to_string();
  auto r = client.value()->get(resources::kNamespaces, "", "default");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 0);
  EXPECT_EQ(r.error().reason, "Tls") << r.error().to_string();
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
  WatchOptions w;
  w.timeout_seconds = 1;
  auto watch = client.value()->watch(resources::kNamespaces, "", w);
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().reason, "Tls") << watch.error().to_string();

  // The system trust store does not know the test bed's CA either.
  Config system_store = config.value();
  system_store.ca_pem.clear();
  auto r2 = Client::from_config(system_store).value()->get(resources::kNamespaces, "", "default");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().reason, "Tls") << r2.error().to_string();

  // The right CA works with the same credentials (so the failures above are the CA's).
  auto right =
      Client::from_config(config.value()).value()->get(resources::kNamespaces, "", "default");
  EXPECT_TRUE(right) << right.error().to_string();
}

// ------------------------------------------------------------------- informer across a restart

// Records what a Store's handlers were told, and flags any change that contradicts what they
// were told before (an add for a key they already have, an update or delete of one they lack).
class HandlerView final {
 public:
  void attach(Store& store) {
    store.add_handler([this](const ObjectPtr& old_object, const ObjectPtr& new_object) {
      const std::lock_guard lock(mutex_);
      const std::string key = object_key(new_object ? *new_object : *old_object);
      const bool known = objects_.contains(key);
      if (!old_object && known) ++duplicate_adds_;
      if (old_object && !known) ++unknown_changes_;
      if (new_object) {
        objects_[key] = resource_version(*new_object);
      } else {
        objects_.erase(key);
      }
    });
  }
  [[nodiscard]] std::map<std::string, std::string> objects() const {
    const std::lock_guard lock(mutex_);
    return objects_;
  }
  [[nodiscard]] int duplicate_adds() const {
    const std::lock_guard lock(mutex_);
    return duplicate_adds_;
  }
  [[nodiscard]] int unknown_changes() const {
    const std::lock_guard lock(mutex_);
    return unknown_changes_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> objects_;  // key -> resourceVersion
  int duplicate_adds_ = 0;
  int unknown_changes_ = 0;
};

std::map<std::string, std::string> server_view(const std::string& ns) {
  ListOptions o;
  o.limit = 50;
  auto r = admin()->list(kWidgets, ns, o);
  std::map<std::string, std::string> out;
  if (!r) return out;
  for (const auto& item : r.value().items)
    out[object_key(item)] = resource_version(item);
  return out;
}

std::map<std::string, std::string> store_view(const Store& store) {
  std::map<std::string, std::string> out;
  for (const auto& obj : store.list())
    out[object_key(*obj)] = resource_version(*obj);
  return out;
}

std::string random_uid() {
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<int> hex(0, 15);
  std::string uid = "00000000-0000-4000-8000-000000000000";
  for (char& ch : uid) {
    if (ch == '0') ch = "0123456789abcdef"[hex(random)];
  }
  return uid;
}

TEST(RealApiServer, InformerSurvivesApiserverRestartAndEtcdCompaction) {
  const std::string ns = ns_name("restart");
  ensure_namespace(ns);
  auto client = admin();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(client->create(kWidgets, widget(ns, "w-" + std::to_string(i), i)));
  }
  WatcherOptions wo;
  wo.ns = ns;
  wo.page_size = 10;
  Informer informer(client, kWidgets, wo);
  HandlerView view;
  view.attach(*informer.store());
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(30s));
  ASSERT_TRUE(eventually([&] { return informer.store()->size() == 40; }, 10s));
  EXPECT_EQ(informer.watcher().lists(), 1);
  const std::string rv_before = informer.watcher().resource_version();

  // A writer that keeps creating and changing widgets through the restart, retrying what the
  // stopped server refused: whatever it managed must end up in the cache.
  std::atomic<bool> writing{true};
  std::atomic<int> created{0};
  std::thread writer([&] {
    auto w = bed().admin_client().value();
    for (int i = 0; writing; ++i) {
      const std::string name = "live-" + std::to_string(i);
      for (;;) {
        auto r = w->create(kWidgets, widget(ns, name, i));
        if (r || r.error().already_exists()) break;
        if (!writing) return;
        std::this_thread::sleep_for(100ms);
      }
      ++created;
      for (;;) {
        auto r = w->patch(kWidgets, ns, "w-" + std::to_string(i % 20), PatchType::kMerge,
                          {{"spec", {{"replicas", 100 + i}}}});
        if (r || !writing) break;
        std::this_thread::sleep_for(100ms);
      }
      std::this_thread::sleep_for(50ms);
    }
  });

  // Compact etcd's history, then stop the apiserver for 3 s and, while it is down, change three
  // widgets directly in etcd, behind the apiserver's back (its watch cache never saw them).
  std::this_thread::sleep_for(1s);
  const auto revision = bed().etcd_revision();
  ASSERT_TRUE(revision);
  ASSERT_TRUE(bed().etcd_compact(*revision));
  std::atomic<bool> restarted{false};
  std::thread restarter([&] { restarted = bed().restart_apiserver(3); });
  ClientOptions probe_options;
  probe_options.max_retries = 0;
  auto probe = Client::from_kubeconfig(bed().kubeconfig(), "", probe_options).value();
  ASSERT_TRUE(eventually([&] { return !probe->get(resources::kNamespaces, "", ns); }, 30s, 20ms));
  const std::string prefix = "/registry/" + kWidgets.group + "/widgets/" + ns + "/";
  Json born = widget(ns, "etcd-born", 7);
  born["metadata"]["uid"] = random_uid();
  born["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
  born["metadata"]["generation"] = 1;
  EXPECT_TRUE(bed().etcd_put(prefix + "etcd-born", born.dump()));
  EXPECT_TRUE(bed().etcd_delete(prefix + "w-39"));
  auto w38 = bed().etcd_get(prefix + "w-38");
  ASSERT_TRUE(w38);
  Json changed = Json::parse(*w38);
  changed["spec"]["color"] = "from-etcd";
  EXPECT_TRUE(bed().etcd_put(prefix + "w-38", changed.dump()));
  restarter.join();
  ASSERT_TRUE(restarted) << "cluster.sh restart failed";
  const int created_when_back = created;
  ASSERT_TRUE(eventually([&] { return created > created_when_back + 10; }, 60s));
  writing = false;
  writer.join();

  // The cache converges on exactly the server's view: every object, every last version.
  std::map<std::string, std::string> server;
  const bool converged = eventually(
      [&] {
        server = server_view(ns);
        return !server.empty() && store_view(*informer.store()) == server;
      },
      60s, 250ms);
  EXPECT_TRUE(converged) << "server has " << server.size() << " widgets, the cache "
                         << informer.store()->size();
  EXPECT_EQ(server.size(), 40U + static_cast<std::size_t>(created.load()));  // +1 born, -1 deleted
  EXPECT_EQ(view.objects(), store_view(*informer.store())) << "handlers missed a change";
  EXPECT_EQ(view.duplicate_adds(), 0);
  EXPECT_EQ(view.unknown_changes(), 0);
  auto born_cached = informer.store()->get(ns + "/etcd-born");
  ASSERT_TRUE(born_cached);
  EXPECT_EQ((*born_cached)["spec"]["replicas"], 7);
  EXPECT_FALSE(informer.store()->get(ns + "/w-39"));
  auto w38_cached = informer.store()->get(ns + "/w-38");
  ASSERT_TRUE(w38_cached);
  EXPECT_EQ((*w38_cached)["spec"].value("color", ""), "from-etcd");
  for (int i = 0; i < created; ++i) {
    EXPECT_TRUE(informer.store()->get(ns + "/live-" + std::to_string(i))) << "live-" << i;
  }
  // Whether the re-watch needed a relist depends on the new apiserver: when its watch cache
  // is not yet ready it may serve the watch from etcd's history, which still holds the
  // changes made in etcd (they are events there), and no 410 comes. Either way the cache must
  // equal the server's view, checked above; the 410 for a compacted version is checked below.
  std::cout << "informer lists: " << informer.watcher().lists() << '\n';

  // And that old version, asked for directly, is 410 Gone (in-stream ERROR or HTTP status).
  WatchOptions w;
  w.resource_version = rv_before;
  w.timeout_seconds = 5;
  Error gone;
  ASSERT_TRUE(eventually(
      [&] {
        auto opened = client->watch(kWidgets, ns, w);
        if (!opened) {
          gone = opened.error();
          return gone.code != 429;  // "storage is (re)initializing": ask again
        }
        auto event = opened.value()->next();
        if (event && event.value() && event.value()->type == "ERROR") {
          gone = error_from_status(event.value()->object);
        } else {
          gone = Error{0, "Unexpected", event && event.value() ? event.value()->type : "no event"};
        }
        return true;
      },
      30s, 500ms));
  EXPECT_TRUE(gone.gone()) << gone.to_string();
  EXPECT_EQ(gone.reason, "Expired") << gone.to_string();
  informer.stop();
}

}  // namespace
}  // namespace ascend::kube
