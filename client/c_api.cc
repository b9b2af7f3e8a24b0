#include "client/c_api.h"

#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/agent_local.h"
#include "client/client_security.h"
#include "client/coordinator_client.h"
#include "client/host_endpoint.h"

struct paramsync_attachment {
  std::unique_ptr<paramsync::client::AgentAttachment> attachment;
};

struct paramsync_endpoint {
  std::unique_ptr<paramsync::client::HostEndpoint> endpoint;
};

namespace {

thread_local std::string last_error;

int Fail(const absl::Status& status) {
  last_error = std::string(status.message());
  return static_cast<int>(status.code());
}

int Ok() {
  last_error.clear();
  return 0;
}

absl::Duration Timeout(int64_t timeout_ms) {
  return timeout_ms > 0 ? absl::Milliseconds(timeout_ms) : absl::Seconds(30);
}

template <typename Message>
absl::Status ParseJson(const char* json, const char* what, Message* message) {
  if (json == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is NULL"));
  google::protobuf::util::Status status =
      google::protobuf::util::JsonStringToMessage(json, message);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a valid JSON ",
                                                   Message::descriptor()->full_name(), ": ",
                                                   status.message().as_string()));
  }
  return absl::OkStatus();
}

char* ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  // Serializing a valid message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return strdup(json.c_str());
}

std::string OrEmpty(const char* s) { return s == nullptr ? "" : s; }

absl::Status CheckAddress(const char* address) {
  if (address == nullptr || *address == '\0') {
    return absl::InvalidArgumentError("address must be a non-empty host:port");
  }
  return absl::OkStatus();
}

}  // namespace

extern "C" {

const char* paramsync_last_error(void) { return last_error.c_str(); }

void paramsync_free_string(char* s) { std::free(s); }

int paramsync_set_security(const char* tls_ca, const char* tls_cert, const char* tls_key,
                           const char* token_file, const char* tls_server_name) {
  paramsync::SecurityConfig config;
  config.tls_ca = OrEmpty(tls_ca);
  config.tls_cert = OrEmpty(tls_cert);
  config.tls_key = OrEmpty(tls_key);
  config.token_file = OrEmpty(token_file);
  config.tls_server_name = OrEmpty(tls_server_name);
  absl::Status status = paramsync::client::SetClientSecurity(config);
  return status.ok() ? Ok() : Fail(status);
}

int paramsync_endpoint_register(const char* agent_address, const char* request_json,
                                int64_t timeout_ms, paramsync_endpoint** out) {
  if (absl::Status s = CheckAddress(agent_address); !s.ok()) return Fail(s);
  paramsync::v1::LocalRegisterEndpointRequest request;
  if (absl::Status s = ParseJson(request_json, "request_json", &request); !s.ok()) return Fail(s);
  auto endpoint = paramsync::client::HostEndpoint::Register(agent_address, std::move(request),
                                                            Timeout(timeout_ms));
  if (!endpoint.ok()) return Fail(endpoint.status());
  *out = new paramsync_endpoint{*std::move(endpoint)};
  return Ok();
}

void* paramsync_endpoint_tensor(paramsync_endpoint* endpoint, const char* name, uint64_t* nbytes) {
  if (endpoint == nullptr || name == nullptr) return nullptr;
  if (nbytes != nullptr) *nbytes = endpoint->endpoint->Bytes(name);
  return endpoint->endpoint->Data(name);
}

int paramsync_endpoint_version(paramsync_endpoint* endpoint, int64_t timeout_ms, int64_t* version) {
  if (endpoint == nullptr) return Fail(absl::InvalidArgumentError("endpoint is NULL"));
  absl::StatusOr<int64_t> held = endpoint->endpoint->Version(Timeout(timeout_ms));
  if (!held.ok()) return Fail(held.status());
  *version = *held;
  return Ok();
}

void paramsync_endpoint_free(paramsync_endpoint* endpoint) { delete endpoint; }

int paramsync_register_shared(const char* agent_address, const char* request_json,
                              int64_t timeout_ms) {
  if (absl::Status s = CheckAddress(agent_address); !s.ok()) return Fail(s);
  paramsync::v1::LocalRegisterEndpointRequest request;
  if (absl::Status s = ParseJson(request_json, "request_json", &request); !s.ok()) return Fail(s);
  absl::Status status =
      paramsync::client::RegisterWithAgent(agent_address, request, Timeout(timeout_ms));
  return status.ok() ? Ok() : Fail(status);
}

int paramsync_attach(const char* agent_address, const char* model, int rank,
                     paramsync_attachment** out) {
  if (absl::Status s = CheckAddress(agent_address); !s.ok()) return Fail(s);
  if (model == nullptr || *model == '\0' || rank < 0 || out == nullptr) {
    return Fail(absl::InvalidArgumentError("model must be non-empty, rank >= 0, out non-NULL"));
  }
  *out = new paramsync_attachment{
      paramsync::client::AgentAttachment::Start(agent_address, model, rank)};
  return Ok();
}

void paramsync_detach(paramsync_attachment* attachment) { delete attachment; }

int paramsync_query_version(const char* agent_address, const char* model, int rank,
                            int64_t timeout_ms, int64_t* version) {
  if (absl::Status s = CheckAddress(agent_address); !s.ok()) return Fail(s);
  if (model == nullptr || *model == '\0') {
    return Fail(absl::InvalidArgumentError("model must be a non-empty string"));
  }
  if (rank < 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("rank must be >= 0, got ", rank)));
  }
  if (version == nullptr) return Fail(absl::InvalidArgumentError("version is NULL"));
  absl::StatusOr<int64_t> held =
      paramsync::client::QueryVersion(agent_address, model, rank, Timeout(timeout_ms));
  if (!held.ok()) return Fail(held.status());
  *version = *held;
  return Ok();
}

int paramsync_create_group(const char* coordinator_address, const char* group_json,
                           int64_t timeout_ms) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  paramsync::v1::SyncGroupSpec group;
  if (absl::Status s = ParseJson(group_json, "group_json", &group); !s.ok()) return Fail(s);
  absl::Status status = paramsync::client::CoordinatorClient(coordinator_address)
                            .CreateSyncGroup(group, Timeout(timeout_ms));
  return status.ok() ? Ok() : Fail(status);
}

int paramsync_sync(const char* coordinator_address, const char* request_json, int64_t timeout_ms,
                   char** response_json) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  paramsync::v1::SyncRequest request;
  if (absl::Status s = ParseJson(request_json, "request_json", &request); !s.ok()) return Fail(s);
  auto response =
      paramsync::client::CoordinatorClient(coordinator_address).Sync(request, Timeout(timeout_ms));
  if (!response.ok()) return Fail(response.status());
  *response_json = ToJson(*response);
  return Ok();
}

int paramsync_sync_with_progress(const char* coordinator_address, const char* request_json,
                                 int64_t timeout_ms, paramsync_event_callback on_progress,
                                 void* user, char** response_json) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  if (on_progress == nullptr) return Fail(absl::InvalidArgumentError("on_progress is NULL"));
  paramsync::v1::SyncRequest request;
  if (absl::Status s = ParseJson(request_json, "request_json", &request); !s.ok()) return Fail(s);
  auto response = paramsync::client::CoordinatorClient(coordinator_address)
                      .SyncWithProgress(
                          request,
                          [&](const paramsync::v1::SyncProgress& event) {
                            char* json = ToJson(event);
                            (void)on_progress(json, user);
                            std::free(json);
                          },
                          Timeout(timeout_ms));
  if (!response.ok()) return Fail(response.status());
  *response_json = ToJson(*response);
  return Ok();
}

int paramsync_get_plan(const char* coordinator_address, const char* group, int64_t timeout_ms,
                       char** plan_json) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  if (group == nullptr) return Fail(absl::InvalidArgumentError("group is NULL"));
  auto plan =
      paramsync::client::CoordinatorClient(coordinator_address).GetPlan(group, Timeout(timeout_ms));
  if (!plan.ok()) return Fail(plan.status());
  *plan_json = ToJson(*plan);
  return Ok();
}

int paramsync_status(const char* coordinator_address, int64_t timeout_ms, char** status_json) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  paramsync::client::CoordinatorClient client(coordinator_address);
  auto agents = client.ListAgents(Timeout(timeout_ms));
  if (!agents.ok()) return Fail(agents.status());
  auto endpoints = client.ListEndpoints("", Timeout(timeout_ms));
  if (!endpoints.ok()) return Fail(endpoints.status());
  char* agents_json = ToJson(*agents);
  char* endpoints_json = ToJson(*endpoints);
  const std::string json =
      absl::StrCat("{\"agents\": ", agents_json, ", \"endpoints\": ", endpoints_json, "}");
  std::free(agents_json);
  std::free(endpoints_json);
  *status_json = strdup(json.c_str());
  return Ok();
}

int paramsync_list_groups(const char* coordinator_address, int64_t timeout_ms, char** groups_json) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  auto groups =
      paramsync::client::CoordinatorClient(coordinator_address).ListSyncGroups(Timeout(timeout_ms));
  if (!groups.ok()) return Fail(groups.status());
  *groups_json = ToJson(*groups);
  return Ok();
}

int paramsync_watch_errors(const char* coordinator_address, int64_t timeout_ms,
                           paramsync_event_callback on_event, void* user) {
  return paramsync_watch_errors_since(coordinator_address, 0, timeout_ms, on_event, user);
}

int paramsync_watch_errors_since(const char* coordinator_address, int64_t since_unix_ms,
                                 int64_t timeout_ms, paramsync_event_callback on_event,
                                 void* user) {
  if (absl::Status s = CheckAddress(coordinator_address); !s.ok()) return Fail(s);
  if (on_event == nullptr) return Fail(absl::InvalidArgumentError("on_event is NULL"));
  if (since_unix_ms < 0) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("since_unix_ms must be >= 0 (0: no replay), got ", since_unix_ms)));
  }
  absl::Status status = paramsync::client::CoordinatorClient(coordinator_address)
                            .WatchErrors(
                                [&](const paramsync::v1::ErrorEvent& event) {
                                  char* json = ToJson(event);
                                  const int stop = on_event(json, user);
                                  std::free(json);
                                  return stop == 0;
                                },
                                Timeout(timeout_ms), absl::FromUnixMillis(since_unix_ms));
  return status.ok() ? Ok() : Fail(status);
}

}  // extern "C"
