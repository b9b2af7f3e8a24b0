/* File: client/c_api.h
 * -----------------------------------------------------------------------------
 * The C ABI of the paramsync client, for languages that load a shared library
 * (the Python package uses it through ctypes). Structured arguments and results
 * are JSON in the protobuf JSON mapping of paramsync.v1 messages.
 *
 * Every function returning int returns 0 (OK) or a gRPC status code; then
 * paramsync_last_error() holds the message (per thread, until the next call).
 * Strings returned through char** are freed with paramsync_free_string().
 */
#ifndef PARAMSYNC_CLIENT_C_API_H_
#define PARAMSYNC_CLIENT_C_API_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct paramsync_endpoint paramsync_endpoint;

/* Told one event (JSON of a paramsync.v1 message); see each use for what a
 * non-zero return means. */
typedef int (*paramsync_event_callback)(const char* event_json, void* user);

const char* paramsync_last_error(void);
void paramsync_free_string(char* s);

/* Sets the TLS material and bearer token of every later call this process
 * makes (paths of PEM files and of the token file; NULL or "" for none): TLS
 * verified with `tls_ca` (and mutual with `tls_cert` + `tls_key`), the token
 * sent as `authorization: Bearer <token>`. Without this call the
 * PARAMSYNC_TLS_CA, PARAMSYNC_TLS_CERT, PARAMSYNC_TLS_KEY,
 * PARAMSYNC_TLS_SERVER_NAME and PARAMSYNC_TOKEN_FILE environment variables
 * give them. The files are read now: an error names the path and changes
 * nothing. Endpoints already registered keep their connections. */
int paramsync_set_security(const char* tls_ca, const char* tls_cert, const char* tls_key,
                           const char* token_file, const char* tls_server_name);

/* Registers a framework endpoint with the local agent. `request_json` is a
 * paramsync.v1.LocalRegisterEndpointRequest whose tensors carry only `spec`;
 * the library places them in a new shared-memory region. Every ParameterSpec
 * field reaches the agent as given: e.g. `"lora": {"role": "LORA_ROLE_A",
 * "base": "w", "scale": 2.0}` declares a LoRA adapter matrix of base weight w. */
int paramsync_endpoint_register(const char* agent_address, const char* request_json,
                                int64_t timeout_ms, paramsync_endpoint** out);
/* The tensor's bytes in shared memory (NULL for an unknown name). */
void* paramsync_endpoint_tensor(paramsync_endpoint* endpoint, const char* name, uint64_t* nbytes);
int paramsync_endpoint_version(paramsync_endpoint* endpoint, int64_t timeout_ms, int64_t* version);
/* Unmaps and unlinks the region; the agent keeps its own mapping. */
void paramsync_endpoint_free(paramsync_endpoint* endpoint);

/* Registers an endpoint whose tensors the caller has already placed: each
 * paramsync.v1.LocalTensor in `request_json` carries its memory (GPU:
 * `cuda_ipc_handle`, base64 in JSON, with `offset` and `nbytes` inside that
 * allocation; host: `shm_name`, `offset`, `nbytes`). Nothing is allocated; the
 * caller keeps the memory alive while the agent may use it. The Python
 * package's register_torch_endpoint uses this for PyTorch CUDA tensors. */
int paramsync_register_shared(const char* agent_address, const char* request_json,
                              int64_t timeout_ms);
/* Keeps (model, rank) attached to its agent until paramsync_detach: if the
 * process dies first, the agent marks the endpoint gone and syncs that need it
 * fail instead of moving stale bytes. For endpoints registered with
 * paramsync_register_shared (paramsync_endpoint_register attaches by itself). */
typedef struct paramsync_attachment paramsync_attachment;
int paramsync_attach(const char* agent_address, const char* model, int rank,
                     paramsync_attachment** out);
void paramsync_detach(paramsync_attachment* attachment);

/* The weights version the agent at `agent_address` says (model, rank) holds. */
int paramsync_query_version(const char* agent_address, const char* model, int rank,
                            int64_t timeout_ms, int64_t* version);

/* `group_json`: a paramsync.v1.SyncGroupSpec. */
int paramsync_create_group(const char* coordinator_address, const char* group_json,
                           int64_t timeout_ms);
/* `request_json`: a paramsync.v1.SyncRequest (group, dry_run, warmup);
 * `*response_json`: a paramsync.v1.SyncResponse. */
int paramsync_sync(const char* coordinator_address, const char* request_json, int64_t timeout_ms,
                   char** response_json);
/* As paramsync_sync, calling `on_progress(progress_json, user)` on this
 * thread with each paramsync.v1.SyncProgress as it arrives (its return value is
 * ignored: the sync goes on whatever the observer does). */
int paramsync_sync_with_progress(const char* coordinator_address, const char* request_json,
                                 int64_t timeout_ms, paramsync_event_callback on_progress,
                                 void* user, char** response_json);
/* `*plan_json`: a paramsync.v1.SyncPlan. */
int paramsync_get_plan(const char* coordinator_address, const char* group, int64_t timeout_ms,
                       char** plan_json);
/* `*status_json`: {"agents": ListAgentsResponse, "endpoints": ListEndpointsResponse}. */
int paramsync_status(const char* coordinator_address, int64_t timeout_ms, char** status_json);
/* `*groups_json`: a paramsync.v1.ListSyncGroupsResponse. */
int paramsync_list_groups(const char* coordinator_address, int64_t timeout_ms, char** groups_json);

/* Calls `on_event(event_json, user)` for each error event (a
 * paramsync.v1.ErrorEvent) until it returns non-zero or `timeout_ms` passes. */
int paramsync_watch_errors(const char* coordinator_address, int64_t timeout_ms,
                           paramsync_event_callback on_event, void* user);
/* The same, first replaying the events the coordinator still holds that were
 * published at or after `since_unix_ms` (its clock; 0: none), e.g. so that a
 * watch started just before an operation misses none of its events while the
 * stream connects. */
int paramsync_watch_errors_since(const char* coordinator_address, int64_t since_unix_ms,
                                 int64_t timeout_ms, paramsync_event_callback on_event, void* user);

#ifdef __cplusplus
}
#endif

#endif /* PARAMSYNC_CLIENT_C_API_H_ */
