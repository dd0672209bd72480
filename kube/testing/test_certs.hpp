// Certificates made at test time with the openssl CLI: a CA, a server certificate for
// 127.0.0.1 and localhost, a client certificate, and an unrelated second CA.
#pragma once

#include <string>

namespace ascend::kube::testing {

struct TestCerts {
  std::string dir;
  std::string ca_crt, ca_key;          ///< The cluster CA.
  std::string server_crt, server_key;  ///< Signed by the CA; SANs 127.0.0.1, localhost.
  std::string client_crt, client_key;  ///< Signed by the CA; CN `ascend-test-client`.
  std::string other_ca_crt;            ///< A CA that signed nothing we serve.

  /// Generates everything under a fresh temporary folder. Returns an empty `dir` when openssl
  /// is unavailable (tests then skip).
  static TestCerts generate();
  /// Reads one of the files.
  static std::string read(const std::string& path);
};

}  // namespace ascend::kube::testing
