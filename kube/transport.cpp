// The only file that includes cpprestsdk. Rules it keeps (STYLE.md, REFERENCE.md §7):
// - our threads wait, cpprestsdk's threads never do: every continuation we attach only moves a
//   value into a Pending and notifies;
// - every task we start ends in a task-based continuation that calls get() inside try/catch,
//   so no exception is left unobserved (pplx would call std::terminate);
// - cancellation wakes the waiting thread at once through the token's callback, whatever
//   cpprestsdk is still doing with the socket.
#include "kube/transport.hpp"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <vector>

namespace ascend::kube {
namespace {

namespace http = web::http;
namespace client = web::http::client;

// A result that a pplx continuation hands to a waiting thread of ours.
template <typename T>
class Pending {
 public:
  void set(Result<T> r) {
    {
      const std::lock_guard lock(mutex_);
      if (result_) return;
      result_.emplace(std::move(r));
    }
    cv_.notify_all();
  }
  // Waits for the result, or returns `Cancelled` within one poll interval of the token firing.
  // (Polling instead of token.register_callback(): clang-analyzer reports a use-after-free
  // inside pplx's callback registration, and a 50 ms check costs nothing measurable.)
  Result<T> wait(const pplx::cancellation_token& token) {
    std::unique_lock lock(mutex_);
    while (!result_) {
      if (token.is_canceled()) return Error{0, "Cancelled", "request cancelled"};
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    // cpprestsdk may fail the operation itself on cancellation ("Operation canceled").
    if (!result_->ok() && token.is_canceled()) {
      return Error{0, "Cancelled", "request cancelled"};
    }
    return std::move(*result_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Result<T>> result_;
};

Error classify(const std::exception_ptr& ex) {
  try {
    std::rethrow_exception(ex);
  } catch (const pplx::task_canceled&) {
    return Error{0, "Cancelled", "request cancelled"};
  } catch (const http::http_exception& e) {
    const std::string what = e.what();
    if (e.error_code() == std::errc::operation_canceled) {
      return Error{0, "Cancelled", what};
    }
    if (e.error_code() == std::errc::timed_out || what.find("timed out") != std::string::npos) {
      return Error{0, "Timeout", what};
    }
    if (what.find("certificate") != std::string::npos ||
        what.find("handshake") != std::string::npos || what.find("SSL") != std::string::npos ||
        what.find("ssl") != std::string::npos) {
      return Error{0, "Tls", "TLS failure (check the cluster CA and client certificate): " + what};
    }
    return Error{0, "Transport", what};
  } catch (const std::exception& e) {
    return Error{0, "Transport", e.what()};
  } catch (...) {
    return Error{0, "Transport", "unknown error from the HTTP client"};
  }
}

// Waits on our thread for a task, returning early with `Cancelled` when the token fires.
// The task still finishes later; its continuation observes any exception.
template <typename T>
Result<T> await(const pplx::task<T>& task, const pplx::cancellation_token& token) {
  auto pending = std::make_shared<Pending<T>>();
  task.then([pending](const pplx::task<T>& t) {
    try {
      pending->set(t.get());
    } catch (...) {
      pending->set(classify(std::current_exception()));
    }
  });
  return pending->wait(token);
}

std::map<std::string, std::string> lower_headers(const http::http_headers& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    std::string key = name;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out[key] = value;
  }
  return out;
}

// Parsed TLS material, shared with the ssl-context callback of every client we create.
struct TlsMaterial {
  std::vector<X509*> cas;
  std::vector<X509*> chain;  // client certificate first, then intermediates
  EVP_PKEY* key = nullptr;
  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;
  ~TlsMaterial() {
    for (X509* c : cas)
      X509_free(c);
    for (X509* c : chain)
      X509_free(c);
    if (key != nullptr) EVP_PKEY_free(key);
  }
};

std::vector<X509*> parse_certs(const std::string& pem) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
    out.push_back(cert);
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

Result<std::shared_ptr<TlsMaterial>> parse_tls(const Config& config) {
  auto tls = std::make_shared<TlsMaterial>();
  if (!config.ca_pem.empty()) {
    tls->cas = parse_certs(config.ca_pem);
    if (tls->cas.empty()) {
      return Error{0, "InvalidConfig",
                   config.source + ": certificate authority is not a PEM certificate"};
    }
  }
  if (!config.client_cert_pem.empty()) {
    tls->chain = parse_certs(config.client_cert_pem);
    if (tls->chain.empty()) {
      return Error{0, "InvalidConfig",
                   config.source + ": client certificate is not a PEM certificate"};
    }
    BIO* bio = BIO_new_mem_buf(config.client_key_pem.data(),
                               static_cast<int>(config.client_key_pem.size()));
    tls->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ERR_clear_error();
    if (tls->key == nullptr) {
      return Error{0, "InvalidConfig", config.source + ": client key is not a PEM private key"};
    }
    if (X509_check_private_key(tls->chain.front(), tls->key) != 1) {
      ERR_clear_error();
      return Error{0, "InvalidConfig",
                   config.source + ": client key does not match the client certificate"};
    }
  }
  return tls;
}

// Runs inside cpprestsdk when it sets up a TLS connection: non-throwing OpenSSL calls only.
void configure_ssl(const TlsMaterial& tls, boost::asio::ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  if (!tls.cas.empty()) {
    // Trust exactly the cluster CA, as client-go does when a CA is configured.
    X509_STORE* store = X509_STORE_new();
    for (X509* ca : tls.cas)
      X509_STORE_add_cert(store, ca);
    SSL_CTX_set_cert_store(native, store);
  }
  if (!tls.chain.empty()) {
    SSL_CTX_use_certificate(native, tls.chain.front());
    for (std::size_t i = 1; i < tls.chain.size(); ++i) {
      SSL_CTX_add1_chain_cert(native, tls.chain[i]);
    }
    SSL_CTX_use_PrivateKey(native, tls.key);
  }
}

class CppRestLineStream final : public LineStream {
 public:
  CppRestLineStream(std::shared_ptr<client::http_client> http, http::http_response response,
                    pplx::cancellation_token_source cts)
      : http_(std::move(http)),
        response_(std::move(response)),
        body_(response_.body()),
        cts_(std::move(cts)) {}

  ~CppRestLineStream() override { cts_.cancel(); }
  CppRestLineStream(const CppRestLineStream&) = delete;
  CppRestLineStream& operator=(const CppRestLineStream&) = delete;

  Result<std::optional<std::string>> next_line() override {
    struct Line {
      std::string text;
      bool eof = false;
      std::size_t bytes = 0;
    };
    for (;;) {
      if (cts_.get_token().is_canceled()) return Error{0, "Cancelled", "watch cancelled"};
      auto buffer = std::make_shared<concurrency::streams::container_buffer<std::string>>();
      auto body = body_;
      auto task = body_.read_line(*buffer).then([buffer, body](std::size_t n) {
        return Line{buffer->collection(), body.is_eof(), n};
      });
      auto line = await(task, cts_.get_token());
      if (!line) {
        // A read that fails because we cancelled it is a cancellation, whatever error code
        // the socket layer chose to report it with.
        if (cancelled_.load() || cts_.get_token().is_canceled()) {
          return Error{0, "Cancelled", "watch cancelled"};
        }
        return line.error();
      }
      if (line.value().bytes == 0 && line.value().eof) return std::optional<std::string>();
      if (line.value().text.empty()) continue;  // a blank keep-alive line
      return std::optional<std::string>(std::move(line.value().text));
    }
  }

  void cancel() override {
    cancelled_.store(true);
    cts_.cancel();
  }

 private:
  std::shared_ptr<client::http_client> http_;  // keeps the connection's owner alive
  http::http_response response_;
  concurrency::streams::istream body_;
  pplx::cancellation_token_source cts_;
  std::atomic<bool> cancelled_{false};  // set before the token fires, read after a failed read
};

class CppRestTransport final : public Transport {
 public:
  CppRestTransport(Config config, TransportOptions options, std::shared_ptr<TlsMaterial> tls)
      : config_(std::move(config)), options_(std::move(options)), tls_(std::move(tls)) {
    default_client_ = make_client(options_.request_timeout);
  }
  ~CppRestTransport() override { shutdown_.cancel(); }
  CppRestTransport(const CppRestTransport&) = delete;
  CppRestTransport& operator=(const CppRestTransport&) = delete;

  Result<HttpResponse> send(const HttpRequest& request) override {
    try {
      auto req = build(request);
      if (!req) return req.error();
      auto http = client_for(request.timeout);
      const auto token = shutdown_.get_token();
      auto task = http->request(req.value(), token).then([http](const http::http_response& r) {
        return r.extract_vector().then([r](const std::vector<unsigned char>& body) {
          HttpResponse out;
          out.status = r.status_code();
          out.headers = lower_headers(r.headers());
          out.body.assign(body.begin(), body.end());
          return out;
        });
      });
      return await(task, token);
    } catch (...) {  // a malformed URI or a header cpprestsdk refuses
      return classify(std::current_exception());
    }
  }

  Result<HttpStream> stream(const HttpRequest& request) override {
    try {
      auto req = build(request);
      if (!req) return req.error();
      auto http =
          make_client(request.timeout.count() > 0 ? request.timeout : options_.request_timeout);
      auto shutdown_token = shutdown_.get_token();
      auto cts = pplx::cancellation_token_source::create_linked_source(shutdown_token);
      auto response = await(http->request(req.value(), cts.get_token()), cts.get_token());
      if (!response) return response.error();
      HttpStream out;
      out.status = response.value().status_code();
      out.headers = lower_headers(response.value().headers());
      if (out.status < 200 || out.status >= 300) {
        auto body = await(response.value().extract_vector(), cts.get_token());
        if (body) out.error_body.assign(body.value().begin(), body.value().end());
        cts.cancel();
        return out;
      }
      out.lines =
          std::make_unique<CppRestLineStream>(std::move(http), std::move(response.value()), cts);
      return out;
    } catch (...) {
      return classify(std::current_exception());
    }
  }

  void shutdown() override { shutdown_.cancel(); }

 private:
  std::shared_ptr<client::http_client> make_client(std::chrono::milliseconds timeout) const {
    client::http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecure_skip_tls_verify);
    if (tls_ && (!tls_->cas.empty() || !tls_->chain.empty())) {
      auto tls = tls_;
      cfg.set_ssl_context_callback(
          [tls](boost::asio::ssl::context& ctx) { configure_ssl(*tls, ctx); });
    }
    return std::make_shared<client::http_client>(web::uri(config_.server), cfg);
  }

  std::shared_ptr<client::http_client> client_for(std::chrono::milliseconds timeout) const {
    if (timeout.count() <= 0 || timeout == options_.request_timeout) return default_client_;
    return make_client(timeout);
  }

  Result<http::http_request> build(const HttpRequest& request) const {
    if (shutdown_.get_token().is_canceled()) {
      return Error{0, "Cancelled", "transport shut down"};
    }
    http::http_request req(request.method);
    req.set_request_uri(web::uri(request.target));
    req.headers().add("Accept", "application/json");
    req.headers().add("User-Agent", options_.user_agent);
    auto token = config_.bearer_token();
    if (!token) return token.error();
    if (token.value()) req.headers().add("Authorization", "Bearer " + *token.value());
    if (!request.body.empty() || !request.content_type.empty()) {
      req.set_body(request.body, request.content_type.empty() ? std::string("application/json")
                                                              : request.content_type);
    }
    return req;
  }

  Config config_;
  TransportOptions options_;
  std::shared_ptr<TlsMaterial> tls_;
  std::shared_ptr<client::http_client> default_client_;
  pplx::cancellation_token_source shutdown_;
};

}  // namespace

bool set_io_threads(std::size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
    return true;
  } catch (...) {  // "the cpprestsdk threadpool has already been initialized"
    return false;
  }
}

Result<TransportPtr> make_transport(const Config& config, const TransportOptions& options) {
  if (config.server.empty()) {
    return Error{0, "InvalidConfig", config.source + ": no API server URL"};
  }
  auto tls = parse_tls(config);
  if (!tls) return tls.error();
  try {
    return TransportPtr(std::make_shared<CppRestTransport>(config, options, tls.value()));
  } catch (...) {
    Error e = classify(std::current_exception());
    e.reason = "InvalidConfig";
    e.message = config.source + ": " + e.message;
    return e;
  }
}

}  // namespace ascend::kube
