#include "common/metrics/http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/metrics/exposition_parser.h"
#include "tests/metrics/http_get.h"

namespace paramsync::metrics {
namespace {

using testing::HttpExchange;
using testing::HttpGet;
using testing::HttpResponse;

std::unique_ptr<MetricsHttpServer> StartOrDie(const Registry& registry,
                                              const std::string& listen = "127.0.0.1:0") {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start(listen, false, &registry);
  INFO(server.status());
  REQUIRE(server.ok());
  return *std::move(server);
}

// A client that connects to `server` and sends nothing; -1 when it cannot.
int ConnectSilently(const MetricsHttpServer& server) {
  const int port = std::stoi(server.address().substr(server.address().rfind(':') + 1));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) return fd;
  close(fd);
  return -1;
}

TEST_CASE("GET /metrics returns the registry in the text format", "[metrics_http]") {
  Registry registry;
  Family<Counter>& requests = registry.AddCounter("t_requests_total", "Requests", {});
  auto server = StartOrDie(registry);
  CHECK(absl::StartsWith(server->address(), "127.0.0.1:"));
  for (int expected = 1; expected <= 3; ++expected) {
    requests.Get({}).Increment();
    absl::StatusOr<HttpResponse> response = HttpGet(server->address(), "/metrics?x=1");
    REQUIRE(response.ok());
    CHECK(response->status == 200);
    CHECK(absl::StrContains(response->headers,
                            "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    CHECK(absl::StrContains(response->headers,
                            absl::StrCat("Content-Length: ", response->body.size())));
    auto samples = testing::ParseExposition(response->body);
    REQUIRE(samples.ok());
    CHECK(samples->at("t_requests_total") == expected);
  }
}

TEST_CASE("Other paths, methods and malformed requests get HTTP errors", "[metrics_http]") {
  Registry registry;
  auto server = StartOrDie(registry);
  CHECK(HttpGet(server->address(), "/")->status == 404);
  CHECK(HttpGet(server->address(), "/metricsx")->status == 404);
  CHECK(HttpExchange(server->address(), "POST /metrics HTTP/1.1\r\n\r\n")->status == 405);
  CHECK(HttpExchange(server->address(), "hello\r\n\r\n")->status == 400);
  CHECK(HttpExchange(server->address(), "GET /metrics SPDY/3\r\n\r\n")->status == 400);
  absl::StatusOr<HttpResponse> head =
      HttpExchange(server->address(), "HEAD /metrics HTTP/1.0\r\n\r\n");
  REQUIRE(head.ok());
  CHECK(head->status == 200);
  CHECK(head->body.empty());
  const std::string huge = absl::StrCat(
      "GET /metrics HTTP/1.1\r\nX: ", std::string(MetricsHttpServer::kMaxRequestBytes, 'a'),
      "\r\n\r\n");
  CHECK(HttpExchange(server->address(), huge)->status == 431);
}

TEST_CASE("A client that sends nothing delays the next scrape by the timeout at most",
          "[metrics_http]") {
  Registry registry;
  auto server = StartOrDie(registry);
  const int silent = ConnectSilently(*server);
  REQUIRE(silent >= 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = HttpGet(server->address(), "/metrics");
  const absl::Duration waited = absl::Now() - start;
  close(silent);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(waited < MetricsHttpServer::kConnectionTimeout + absl::Seconds(1));
}

TEST_CASE("Stopping the server ends a connection in progress at once", "[metrics_http]") {
  Registry registry;
  auto server = StartOrDie(registry);
  const int silent = ConnectSilently(*server);
  REQUIRE(silent >= 0);
  absl::SleepFor(absl::Milliseconds(50));  // The server now waits for its request.
  const absl::Time start = absl::Now();
  server.reset();
  CHECK(absl::Now() - start < absl::Milliseconds(500));
  close(silent);
}

TEST_CASE("Metrics are served only on loopback without --allow_insecure_remote", "[metrics_http]") {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> remote =
      MetricsHttpServer::Start("0.0.0.0:0", false, &registry);
  CHECK(remote.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(remote.status().message(), "--allow_insecure_remote"));
  CHECK(MetricsHttpServer::Start("0.0.0.0:0", true, &registry).ok());
  CHECK(MetricsHttpServer::Start("[::1]:0", false, &registry).ok());
  for (const char* bad : {"127.0.0.1", "127.0.0.1:99999", ":80", "[::1:80", "127.0.0.1:x"}) {
    INFO(bad);
    CHECK(MetricsHttpServer::Start(bad, true, &registry).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("A port in use is refused with UNAVAILABLE", "[metrics_http]") {
  Registry registry;
  auto first = StartOrDie(registry);
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start(first->address(), false, &registry);
  CHECK(second.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("ServeMetrics serves as configured and publishes the bound address", "[metrics_http]") {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> off =
      ServeMetrics(MetricsEndpointConfig{}, false, &registry);
  REQUIRE(off.ok());
  CHECK(*off == nullptr);
  CHECK(ServeMetrics({"", "/tmp/never-written"}, false, &registry).status().code() ==
        absl::StatusCode::kInvalidArgument);

  const char* dir = getenv("TEST_TMPDIR");
  const std::string file = absl::StrCat(dir != nullptr ? dir : "/tmp", "/metrics.address");
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> on =
      ServeMetrics({"127.0.0.1:0", file}, false, &registry);
  REQUIRE(on.ok());
  REQUIRE(*on != nullptr);
  std::ifstream written(file);
  std::string address;
  std::getline(written, address);
  CHECK(address == (*on)->address());
  CHECK(HttpGet(address, "/metrics")->status == 200);
}

}  // namespace
}  // namespace paramsync::metrics
