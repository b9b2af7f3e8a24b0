// File: common/metrics/http_server.h
// -----------------------------------------------------------------------------
// Serves a metrics Registry at GET /metrics over plaintext HTTP/1.1 for
// Prometheus to scrape.
//
// Deliberately small (prometheus-cpp's civetweb exposer cannot be linked
// statically: Debian ships no archive of it): one thread accepts and answers
// one connection at a time, which suits a scraper that calls every few
// seconds. Every connection is bounded: a request of at most 8 KiB, 2 s to
// send it and take the answer, then the connection closes (no keep-alive), so
// a stuck or hostile client delays scrapes by at most that long and can never
// hold the thread. GET and HEAD of /metrics (any query string) answer 200;
// other paths 404, other methods 405, malformed requests 400, oversized
// ones 431.
#ifndef PARAMSYNC_COMMON_METRICS_HTTP_SERVER_H_
#define PARAMSYNC_COMMON_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace paramsync::metrics {

class MetricsHttpServer {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr absl::Duration kConnectionTimeout = absl::Seconds(2);

  // Starts serving `registry` (which must outlive the server) on
  // `listen_address`, "host:port" ("[v6]:port"; port 0 picks a free one).
  // INVALID_ARGUMENT for a malformed address; FAILED_PRECONDITION for one that
  // is not loopback unless `allow_insecure_remote` (the endpoint has neither
  // TLS nor tokens); UNAVAILABLE when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen_address,
                                                                  bool allow_insecure_remote,
                                                                  const Registry* registry);
  // Stops serving: a connection in progress is cut off, the thread joined.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // host:port served on, with the port bound.
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer(int listen_fd, int wake_fd, std::string address, const Registry* registry);
  void Loop();
  void Serve(int connection);
  // What to answer `request` (the bytes up to the end of its headers).
  std::string Respond(const std::string& request) const;

  const int listen_fd_;
  const int wake_fd_;  // An eventfd written once to stop the loop.
  const std::string address_;
  const Registry* const registry_;
  std::thread thread_;
};

// Where a daemon serves its metrics (common/metrics/metrics_flags.h).
struct MetricsEndpointConfig {
  std::string listen;        // host:port; empty: no metrics endpoint.
  std::string address_file;  // Where to write the bound host:port; empty: nowhere.
};

// Serves `registry` as `config` says (MetricsHttpServer::Start) and writes the
// bound address to its address file; null when `config.listen` is empty.
// INVALID_ARGUMENT for an address file without a listen address; otherwise the
// errors of MetricsHttpServer::Start and of writing the file.
absl::StatusOr<std::unique_ptr<MetricsHttpServer>> ServeMetrics(const MetricsEndpointConfig& config,
                                                                bool allow_insecure_remote,
                                                                const Registry* registry);

}  // namespace paramsync::metrics

#endif  // PARAMSYNC_COMMON_METRICS_HTTP_SERVER_H_
