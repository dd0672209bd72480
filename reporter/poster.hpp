// Posting a report to the operator's status server over HTTPS (libcurl), trying every address
// the Service name resolves to until one answers something other than 503: only the replica
// that leads accepts.
#pragma once

#include <string>

namespace ascend::reporter {

struct PostTarget {
  std::string url;     ///< https://host:port/path
  std::string ca_pem;  ///< The CA the server's certificate chains to.
};

struct PostOutcome {
  int status = 0;       ///< The HTTP status of the answer that counted; 0: no answer.
  std::string message;  ///< The body, or why there was no answer.
};

/// One POST of `body` with `Authorization: Bearer <token>`.
PostOutcome post_report(const PostTarget& target, const std::string& token,
                        const std::string& body);

}  // namespace ascend::reporter
