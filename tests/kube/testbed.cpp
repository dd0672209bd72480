#include "tests/kube/testbed.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kube/config.hpp"

namespace ascend::kube::testbed {

CommandResult run(const std::string& command) {
  CommandResult out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0)
    out.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string quote(const std::string& word) {
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string encode_base64(const std::string& bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16U) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8U) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += kAlphabet[(v >> 6U) & 63U];
    out += kAlphabet[v & 63U];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16U;
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16U) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8U);
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += kAlphabet[(v >> 6U) & 63U];
    out += '=';
  }
  return out;
}

Result<TestBed> TestBed::from_env() {
  TestBed bed;
  const auto need = [](const char* name) -> Result<std::string> {
    auto v = process_env(name);
    if (!v || v->empty()) {
      return Error{
          0, "InvalidConfig",
          std::string(name) + " is not set: run this through tests/kube/apiserver_test.sh"};
    }
    return *v;
  };
  auto kubeconfig = need("KUBECONFIG");
  auto dir = need("TESTBED_DIR");
  auto bin = need("TESTBED_BIN");
  auto cluster_sh = need("TESTBED_CLUSTER_SH");
  for (const auto* r : {&kubeconfig, &dir, &bin, &cluster_sh}) {
    if (!*r) return r->error();
  }
  bed.kubeconfig_ = kubeconfig.value();
  bed.dir_ = dir.value();
  bed.kubectl_ = bin.value() + "/kubectl";
  bed.cluster_sh_ = cluster_sh.value();
  std::ifstream ports(bed.dir_ + "/ports");
  std::string line;
  while (std::getline(ports, line)) {
    if (line.rfind("ETCD_PORT=", 0) == 0) bed.etcd_port_ = std::stoi(line.substr(10));
  }
  if (bed.etcd_port_ == 0) {
    return Error{0, "InvalidConfig", bed.dir_ + "/ports has no ETCD_PORT"};
  }
  return bed;
}

Result<ClientPtr> TestBed::admin_client(double qps, int burst) const {
  ClientOptions options;
  options.qps = qps;
  options.burst = burst;
  return Client::from_kubeconfig(kubeconfig_, "", options);
}

CommandResult TestBed::kubectl(const std::string& args) const {
  return run(quote(kubectl_) + " --kubeconfig " + quote(kubeconfig_) + " " + args);
}

bool TestBed::restart_apiserver(int down_seconds) const {
  const auto r = run(quote(cluster_sh_) + " restart " + quote(dir_) +
                     " kube-apiserver --down-seconds " + std::to_string(down_seconds));
  return r.exit_code == 0;
}

std::optional<nlohmann::json> TestBed::etcd_call(const std::string& path,
                                                 const nlohmann::json& body) const {
  const auto r =
      run("curl -fsS --max-time 10 -X POST http://127.0.0.1:" + std::to_string(etcd_port_) + path +
          " -d " + quote(body.dump()));
  if (r.exit_code != 0) return std::nullopt;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::optional<long long> TestBed::etcd_revision() const {
  // A range over one key that never exists: the answer's header carries the revision.
  auto j = etcd_call("/v3/kv/range", {{"key", encode_base64("/ascend-factory-probe")}});
  if (!j || !j->contains("header")) return std::nullopt;
  return std::stoll((*j)["header"].value("revision", std::string("0")));
}

bool TestBed::etcd_compact(long long revision) const {
  return etcd_call("/v3/kv/compaction",
                   {{"revision", std::to_string(revision)}, {"physical", true}})
      .has_value();
}

std::optional<std::string> TestBed::etcd_get(const std::string& key) const {
  auto j = etcd_call("/v3/kv/range", {{"key", encode_base64(key)}});
  if (!j || !j->contains("kvs") || (*j)["kvs"].empty()) return std::nullopt;
  return decode_base64((*j)["kvs"][0].value("value", std::string()));
}

bool TestBed::etcd_put(const std::string& key, const std::string& value) const {
  return etcd_call("/v3/kv/put", {{"key", encode_base64(key)}, {"value", encode_base64(value)}})
      .has_value();
}

bool TestBed::etcd_delete(const std::string& key) const {
  return etcd_call("/v3/kv/deleterange", {{"key", encode_base64(key)}}).has_value();
}

}  // namespace ascend::kube::testbed
