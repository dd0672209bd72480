#include "reporter/poster.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <set>
#include <vector>

namespace ascend::reporter {

namespace {

struct Url {
  std::string host;
  std::string port = "443";
};

Url parse_url(const std::string& url) {
  Url u;
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const auto close = rest.find(']');
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') u.port = rest.substr(close + 2);
    return u;
  }
  const auto colon = rest.rfind(':');
  u.host = rest.substr(0, colon);
  if (colon != std::string::npos) u.port = rest.substr(colon + 1);
  return u;
}

std::vector<std::string> resolve(const Url& u) {
  std::vector<std::string> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &found) != 0) return out;
  std::set<std::string> seen;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* where =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, where, text, sizeof(text)) == nullptr) continue;
    if (seen.insert(text).second) {
      out.push_back(a->ai_family == AF_INET6 ? "[" + std::string(text) + "]" : std::string(text));
    }
  }
  freeaddrinfo(found);
  return out;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

PostOutcome post_once(const PostTarget& target, const std::string& token, const std::string& body,
                      const std::string& pin) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return {0, "cannot start libcurl"};
  std::string answer;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_slist* resolve_list = nullptr;
  if (!pin.empty()) resolve_list = curl_slist_append(resolve_list, pin.c_str());
  curl_blob ca{};
  ca.data = const_cast<char*>(target.ca_pem.data());
  ca.len = target.ca_pem.size();
  ca.flags = CURL_BLOB_COPY;
  curl_easy_setopt(curl, CURLOPT_URL, target.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));  // NOLINT
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (resolve_list != nullptr) curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve_list);
  if (!target.ca_pem.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  const CURLcode rc = curl_easy_perform(curl);
  PostOutcome out;
  if (rc == CURLE_OK) {
    long code = 0;  // NOLINT(google-runtime-int): libcurl's type
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    out.status = static_cast<int>(code);
    out.message = answer;
  } else {
    out.message = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve_list);
  curl_easy_cleanup(curl);
  return out;
}

}  // namespace

PostOutcome post_report(const PostTarget& target, const std::string& token,
                        const std::string& body) {
  const Url u = parse_url(target.url);
  std::vector<std::string> addresses = resolve(u);
  if (addresses.empty()) return post_once(target, token, body, "");
  PostOutcome last{0, "no address answered"};
  for (const auto& address : addresses) {
    // Pin the name to one address: TLS still checks the certificate against the name.
    last = post_once(target, token, body, u.host + ":" + u.port + ":" + address);
    if (last.status != 0 && last.status != 503) return last;
  }
  return last;
}

}  // namespace ascend::reporter
