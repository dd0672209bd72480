#include "kube/testing/test_certs.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ascend::kube::testing {
namespace {

bool run(const std::string& command) {
  // Test-only helper: no other thread changes the environment while this runs.
  const std::string line = command + " >/dev/null 2>&1";
  return std::system(line.c_str()) == 0;  // NOLINT(concurrency-mt-unsafe,cert-env33-c)
}

}  // namespace

std::string TestCerts::read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TestCerts TestCerts::generate() {
  TestCerts c;
  static int counter = 0;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("kube-certs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  const std::string d = dir.string();
  c.ca_crt = d + "/ca.crt";
  c.ca_key = d + "/ca.key";
  c.server_crt = d + "/server.crt";
  c.server_key = d + "/server.key";
  c.client_crt = d + "/client.crt";
  c.client_key = d + "/client.key";
  c.other_ca_crt = d + "/other-ca.crt";
  std::ofstream(d + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                   << "extendedKeyUsage=serverAuth\n";
  std::ofstream(d + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  const std::string key = "openssl req -newkey rsa:2048 -nodes -sha256 ";
  const bool ok =
      run(key + "-x509 -days 2 -subj /CN=test-ca -keyout " + c.ca_key + " -out " + c.ca_crt) &&
      run(key + "-x509 -days 2 -subj /CN=other-ca -keyout " + d + "/other-ca.key -out " +
          c.other_ca_crt) &&
      run(key + "-subj /CN=127.0.0.1 -keyout " + c.server_key + " -out " + d + "/server.csr") &&
      run("openssl x509 -req -sha256 -days 2 -in " + d + "/server.csr -CA " + c.ca_crt +
          " -CAkey " + c.ca_key + " -CAcreateserial -extfile " + d + "/server.ext -out " +
          c.server_crt) &&
      run(key + "-subj /CN=ascend-test-client -keyout " + c.client_key + " -out " + d +
          "/client.csr") &&
      run("openssl x509 -req -sha256 -days 2 -in " + d + "/client.csr -CA " + c.ca_crt +
          " -CAkey " + c.ca_key + " -CAcreateserial -extfile " + d + "/client.ext -out " +
          c.client_crt);
  if (ok) c.dir = d;
  return c;
}

}  // namespace ascend::kube::testing
