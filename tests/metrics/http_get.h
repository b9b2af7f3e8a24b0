// File: tests/metrics/http_get.h
// -----------------------------------------------------------------------------
// A minimal HTTP/1.1 client for tests: sends one request over a fresh TCP
// connection and reads the answer until the server closes it.
#ifndef PARAMSYNC_TESTS_METRICS_HTTP_GET_H_
#define PARAMSYNC_TESTS_METRICS_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace paramsync::testing {

struct HttpResponse {
  int status = 0;       // 200, 404, ...
  std::string headers;  // Status line and headers, CRLF-separated.
  std::string body;
};

// Sends `raw_request` as is to `address` (host:port) and parses the answer.
absl::StatusOr<HttpResponse> HttpExchange(const std::string& address,
                                          const std::string& raw_request,
                                          absl::Duration timeout = absl::Seconds(5));

// GET `path` from `address`.
absl::StatusOr<HttpResponse> HttpGet(const std::string& address, const std::string& path);

}  // namespace paramsync::testing

#endif  // PARAMSYNC_TESTS_METRICS_HTTP_GET_H_
