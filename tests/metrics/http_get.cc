#include "tests/metrics/http_get.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace paramsync::testing {

absl::StatusOr<HttpResponse> HttpExchange(const std::string& address,
                                          const std::string& raw_request, absl::Duration timeout) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  absl::string_view host(address.data(), colon);
  absl::ConsumePrefix(&host, "[");
  absl::ConsumeSuffix(&host, "]");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int error =
          getaddrinfo(std::string(host).c_str(), address.substr(colon + 1).c_str(), &hints, &found);
      error != 0) {
    return absl::InvalidArgumentError(absl::StrCat(address, ": ", gai_strerror(error)));
  }
  const int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(found);
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  timeval tv{static_cast<time_t>(absl::ToInt64Seconds(timeout)), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int connected = connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (connected != 0) {
    const std::string error = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to ", address, ": ", error));
  }
  std::string answer;
  if (send(fd, raw_request.data(), raw_request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(raw_request.size())) {
    char buffer[4096];
    ssize_t got;
    while ((got = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, got);
  }
  close(fd);
  const size_t end = answer.find("\r\n\r\n");
  int status = 0;
  if (end == std::string::npos || answer.size() < 12 ||
      !absl::SimpleAtoi(answer.substr(9, 3), &status)) {
    return absl::DataLossError(absl::StrCat("no HTTP response from ", address, ": '", answer, "'"));
  }
  return HttpResponse{status, answer.substr(0, end), answer.substr(end + 4)};
}

absl::StatusOr<HttpResponse> HttpGet(const std::string& address, const std::string& path) {
  return HttpExchange(address, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address,
                                            "\r\nAccept: text/plain\r\n\r\n"));
}

}  // namespace paramsync::testing
