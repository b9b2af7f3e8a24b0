#include "common/metrics/http_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/address_file.h"
#include "common/credentials.h"
#include "common/metrics/text_format.h"

namespace paramsync::metrics {
namespace {

struct HostPort {
  std::string host;  // Without brackets.
  std::string port;
};

absl::StatusOr<HostPort> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", address, "' is not host:port (port 0 to 65535; IPv6 as [::1]:port)"));
  }
  absl::string_view host(address.data(), colon);
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' opens a '[' it does not close"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address,
                     "' has no host; give 127.0.0.1:PORT, or 0.0.0.0:PORT to "
                     "serve every interface"));
  }
  return HostPort{std::string(host), absl::StrCat(port)};
}

// A listening socket on `where`, or why not.
absl::StatusOr<int> Listen(const HostPort& where, const std::string& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int error = getaddrinfo(where.host.c_str(), where.port.c_str(), &hints, &found); error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': ", gai_strerror(error)));
  }
  std::string last_error = "no address";
  int listening = -1;
  for (addrinfo* ai = found; ai != nullptr && listening < 0; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
      last_error = strerror(errno);
      close(fd);
      continue;
    }
    listening = fd;
  }
  freeaddrinfo(found);
  if (listening < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", last_error));
  }
  return listening;
}

int BoundPort(int fd) {
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return 0;
  if (bound.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

// Waits until `fd` is ready for `events`, the server is stopped (`wake_fd`
// readable) or `deadline`; true only when `fd` is ready.
bool WaitFor(int fd, short events, int wake_fd, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int timeout_ms =
        left == absl::InfiniteDuration()
            ? -1
            : static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60000));
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;  // Re-check the deadline.
    if (ready < 0 || (fds[1].revents & POLLIN) != 0) return false;
    return (fds[0].revents & (events | POLLERR | POLLHUP)) != 0;
  }
}

std::string Reply(const std::string& status, const std::string& content_type,
                  const std::string& body, bool include_body, const std::string& extra = "") {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\n", extra,
                      "Connection: close\r\n\r\n", include_body ? body : "");
}

std::string PlainReply(const std::string& status, const std::string& body,
                       const std::string& extra = "") {
  return Reply(status, "text/plain; charset=utf-8", body + "\n", true, extra);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, bool allow_insecure_remote, const Registry* registry) {
  absl::StatusOr<HostPort> where = ParseAddress(listen_address);
  if (!where.ok()) return where.status();
  if (!allow_insecure_remote && !IsLoopbackAddress(listen_address)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve metrics (plaintext HTTP, no token) on ", listen_address,
        ", which is not a loopback address; give --allow_insecure_remote to serve them to the "
        "network"));
  }
  absl::StatusOr<int> listening = Listen(*where, listen_address);
  if (!listening.ok()) return listening.status();
  const int wake = eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    close(*listening);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  const std::string host =
      absl::StrContains(where->host, ':') ? absl::StrCat("[", where->host, "]") : where->host;
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(
      *listening, wake, absl::StrCat(host, ":", BoundPort(*listening)), registry));
  server->thread_ = std::thread([raw = server.get()] { raw->Loop(); });
  return server;
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int wake_fd, std::string address,
                                     const Registry* registry)
    : listen_fd_(listen_fd), wake_fd_(wake_fd), address_(std::move(address)), registry_(registry) {}

MetricsHttpServer::~MetricsHttpServer() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsHttpServer::Loop() {
  while (WaitFor(listen_fd_, POLLIN, wake_fd_, absl::InfiniteFuture())) {
    const int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (connection < 0) {
      // The client gave up: take the next. Out of descriptors or memory: the
      // listening socket stays readable, so pause instead of spinning.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        (void)WaitFor(wake_fd_, POLLIN, wake_fd_, absl::Now() + absl::Milliseconds(100));
      }
      continue;
    }
    Serve(connection);
    close(connection);
  }
}

void MetricsHttpServer::Serve(int connection) {
  const absl::Time deadline = absl::Now() + kConnectionTimeout;
  std::string request;
  char buffer[1024];
  std::string reply;
  while (reply.empty()) {
    if (!WaitFor(connection, POLLIN, wake_fd_, deadline)) return;
    const ssize_t got = recv(connection, buffer, sizeof(buffer), 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) return;  // Closed before a whole request.
    request.append(buffer, static_cast<size_t>(got));
    const size_t end = request.find("\r\n\r\n");
    if (end != std::string::npos && end + 4 <= kMaxRequestBytes) {
      reply = Respond(request.substr(0, end));
    } else if (request.size() > kMaxRequestBytes) {
      reply = PlainReply("431 Request Header Fields Too Large",
                         absl::StrCat("requests are limited to ", kMaxRequestBytes, " bytes"));
    }
  }
  size_t sent = 0;
  while (sent < reply.size()) {
    if (!WaitFor(connection, POLLOUT, wake_fd_, deadline)) return;
    const ssize_t wrote = send(connection, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
    if (wrote < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (wrote <= 0) return;
    sent += static_cast<size_t>(wrote);
  }
}

std::string MetricsHttpServer::Respond(const std::string& request) const {
  const absl::string_view request_line = absl::string_view(request).substr(0, request.find("\r\n"));
  const std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    return PlainReply("400 Bad Request", "expected an HTTP/1.x request line");
  }
  const absl::string_view method = parts[0];
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (method != "GET" && method != "HEAD") {
    return PlainReply("405 Method Not Allowed", "only GET and HEAD are served",
                      "Allow: GET, HEAD\r\n");
  }
  if (path != "/metrics") return PlainReply("404 Not Found", "metrics are served at /metrics");
  return Reply("200 OK", kTextFormatContentType, ToTextFormat(registry_->Collect()),
               method == "GET");
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> ServeMetrics(const MetricsEndpointConfig& config,
                                                                bool allow_insecure_remote,
                                                                const Registry* registry) {
  if (config.listen.empty()) {
    if (config.address_file.empty()) return nullptr;
    return absl::InvalidArgumentError(
        "--metrics_address_file needs --metrics_listen (host:port, or host:0 for a free port)");
  }
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start(config.listen, allow_insecure_remote, registry);
  if (!server.ok()) return server.status();
  if (absl::Status written = WriteAddressFile(config.address_file, (*server)->address());
      !written.ok()) {
    return written;
  }
  return server;
}

}  // namespace paramsync::metrics
