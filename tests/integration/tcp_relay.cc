// tcp_relay: the network between two agents, for fault tests. It accepts TCP
// connections on --listen and forwards each, byte for byte both ways, over a
// connection of its own to --target. An agent advertises it as its data
// address (--data_advertise_address), so other agents' pushes to that agent
// cross it while the coordinator and the agent's heartbeats do not.
//
// Commands on stdin, one a line, each answered with one line on stdout:
//   cut    The network is cut: from now on every byte arriving on any
//          connection, old or new, is dropped and nothing is closed (no RST,
//          no FIN). Peers see silence, as behind a dead link, not an error.
//   heal   The network is back: connections that lost bytes to the cut are
//          closed (their streams are broken, as TCP would give them up after
//          its retransmissions), and connections are forwarded again.
//   stats  "ok <bytes forwarded> <connections accepted>".
// Anything else is answered "error <what>". The first line written is
// "ok <host:port>" once it listens; it exits at the end of its input.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to accept connections on");
ABSL_FLAG(std::string, target, "", "host:port each connection is forwarded to");

namespace {

constexpr size_t kReadBytes = 64 << 10;

// One direction of a forwarded connection: bytes read from `from`, waiting
// to be written to `to`.
struct Pipe {
  int from = -1;
  int to = -1;
  std::string pending;
};

// An accepted connection and the relay's connection to the target.
struct Link {
  int client = -1;
  int server = -1;       // -1 when accepted during a cut: never connected.
  Pipe up;               // client -> server
  Pipe down;             // server -> client
  bool severed = false;  // Lost bytes to a cut: closed when it heals.

  void Close() {
    for (int* fd : {&client, &server}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    up = {};
    down = {};
  }
};

absl::StatusOr<addrinfo*> Resolve(const std::string& address, bool passive) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  const std::string host = address.substr(0, colon);
  const int rc = getaddrinfo(host.c_str(), address.substr(colon + 1).c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "': ", gai_strerror(rc)));
  }
  return result;
}

absl::StatusOr<int> Listen(const std::string& address, std::string* bound) {
  absl::StatusOr<addrinfo*> info = Resolve(address, true);
  if (!info.ok()) return info.status();
  const int fd = socket((*info)->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok =
      fd >= 0 && bind(fd, (*info)->ai_addr, (*info)->ai_addrlen) == 0 && listen(fd, 64) == 0;
  freeaddrinfo(*info);
  if (!ok) {
    const std::string error = strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("listen on ", address, ": ", error));
  }
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    *bound = absl::StrCat("[", host, "]:", port);
  } else {
    const auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
    port = ntohs(in4->sin_port);
    *bound = absl::StrCat(host, ":", port);
  }
  return fd;
}

// A connection to `address`, or -1.
int Connect(const std::string& address) {
  absl::StatusOr<addrinfo*> info = Resolve(address, false);
  if (!info.ok()) return -1;
  int fd = socket((*info)->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (*info)->ai_addr, (*info)->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(*info);
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

void Reply(const std::string& line) {
  const std::string text = line + "\n";
  if (write(STDOUT_FILENO, text.data(), text.size()) < 0) perror("tcp_relay: write");
}

class Relay {
 public:
  Relay(int listener, std::string target) : listener_(listener), target_(std::move(target)) {}

  // Serves until stdin ends.
  void Run() {
    std::string input;
    while (true) {
      std::vector<pollfd> fds = {{STDIN_FILENO, POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const auto& link : links_) {
        for (const Pipe* pipe : {&link->up, &link->down}) {
          if (pipe->from < 0) continue;
          // A pipe with bytes still to write reads no more: backpressure.
          fds.push_back({pipe->from, static_cast<short>(pipe->pending.empty() ? POLLIN : 0), 0});
          if (!pipe->pending.empty()) fds.push_back({pipe->to, POLLOUT, 0});
        }
      }
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        perror("tcp_relay: poll");
        return;
      }
      if (fds[0].revents != 0 && !ReadCommands(input)) return;
      if (fds[1].revents & POLLIN) Accept();
      for (auto& link : links_) {
        for (Pipe* pipe : {&link->up, &link->down}) Pump(*link, *pipe);
      }
      links_.erase(std::remove_if(links_.begin(), links_.end(),
                                  [](const std::unique_ptr<Link>& link) {
                                    return link->client < 0 && link->server < 0;
                                  }),
                   links_.end());
    }
  }

 private:
  // Handles the complete lines on stdin; false at its end.
  bool ReadCommands(std::string& input) {
    char buffer[256];
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n <= 0) return false;
    input.append(buffer, n);
    for (size_t end; (end = input.find('\n')) != std::string::npos; input.erase(0, end + 1)) {
      Command(input.substr(0, end));
    }
    return true;
  }

  void Command(const std::string& command) {
    if (command == "cut") {
      cut_ = true;
      for (auto& link : links_) Sever(*link);
      Reply("ok");
    } else if (command == "heal") {
      cut_ = false;
      for (auto& link : links_) {
        if (link->severed) link->Close();
      }
      Reply("ok");
    } else if (command == "stats") {
      Reply(absl::StrCat("ok ", forwarded_, " ", accepted_));
    } else {
      Reply(absl::StrCat("error unknown command '", command, "'; accepted: cut, heal, stats"));
    }
  }

  void Sever(Link& link) {
    link.severed = true;
    link.up.pending.clear();
    link.down.pending.clear();
  }

  void Accept() {
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    ++accepted_;
    auto link = std::make_unique<Link>();
    link->client = client;
    if (cut_) {
      link->severed = true;
    } else {
      link->server = Connect(target_);
      if (link->server < 0) {
        close(client);  // The target is down: so is the connection.
        return;
      }
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    link->up = {link->client, link->server, {}};
    link->down = {link->server, link->client, {}};
    links_.push_back(std::move(link));
  }

  // Moves what `pipe` can move now without blocking.
  void Pump(Link& link, Pipe& pipe) {
    if (pipe.from < 0) return;
    if (pipe.pending.empty()) {
      char buffer[kReadBytes];
      const ssize_t n = recv(pipe.from, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (n <= 0) {
        // The peer closed it. Through a cut nothing tells the other side.
        if (link.severed) {
          CloseSide(link, pipe.from);
        } else {
          link.Close();
        }
        return;
      }
      if (link.severed) return;  // Dropped.
      pipe.pending.assign(buffer, n);
    }
    const ssize_t sent =
        send(pipe.to, pipe.pending.data(), pipe.pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) link.Close();
      return;
    }
    forwarded_ += sent;
    pipe.pending.erase(0, sent);
  }

  static void CloseSide(Link& link, int fd) {
    int* side = fd == link.client ? &link.client : &link.server;
    close(*side);
    *side = -1;
    for (Pipe* pipe : {&link.up, &link.down}) {
      if (pipe->from == fd) pipe->from = -1;
      if (pipe->to == fd) pipe->to = -1;
    }
  }

  const int listener_;
  const std::string target_;
  std::vector<std::unique_ptr<Link>> links_;
  bool cut_ = false;
  int64_t forwarded_ = 0;
  int64_t accepted_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    fprintf(stderr, "tcp_relay: --target=host:port is required\n");
    return 2;
  }
  std::string bound;
  absl::StatusOr<int> listener = Listen(absl::GetFlag(FLAGS_listen), &bound);
  if (!listener.ok()) {
    fprintf(stderr, "tcp_relay: %s\n", listener.status().ToString().c_str());
    return 1;
  }
  Reply(absl::StrCat("ok ", bound));
  Relay(*listener, target).Run();
  return 0;
}
