/* kvstash C API: a thin FFI layer over kvstash::Client (include/kvstash/client.h).
 *
 * Every function returns an int status: 0 on success, else a kvstash StatusCode value
 * (KVSTASH_NOT_FOUND, ...; the same numbers as on the wire). No C++ exception crosses this
 * boundary. Handles are opaque; each open/register call has a matching close/unregister.
 * A kvstash_client_t is thread-safe; kvstash_last_error() is per thread.
 */
#ifndef KVSTASH_KVSTASH_H_
#define KVSTASH_KVSTASH_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  KVSTASH_OK = 0,
  KVSTASH_NOT_FOUND = 1,
  KVSTASH_ALREADY_EXISTS = 2,
  KVSTASH_BUSY = 3,
  KVSTASH_RESOURCE_EXHAUSTED = 4,
  KVSTASH_INVALID_ARGUMENT = 5,
  KVSTASH_DATA_LOSS = 6,
  KVSTASH_IO_ERROR = 7,
  KVSTASH_UNAVAILABLE = 8,
  KVSTASH_PERMISSION_DENIED = 9,
  KVSTASH_LEASE_EXPIRED = 10,
  KVSTASH_TIMEOUT = 11,
  KVSTASH_INTERNAL = 12,
};

enum {
  KVSTASH_PEER_FAILURE_AUTO = 0,
  KVSTASH_PEER_FAILURE_OFF = 1,
  KVSTASH_PEER_FAILURE_ON = 2,
};

typedef struct kvstash_client kvstash_client_t;
typedef struct kvstash_buffer kvstash_buffer_t;

/* Connection settings; zero-initialize, then set what you need (0/NULL = default). */
typedef struct kvstash_client_options {
  const char* server_address; /* "host:port"; NULL: "127.0.0.1:7400" */
  uint32_t timeout_ms;        /* per call; 0: 5000 */
  uint16_t namespace_id;
  const char* token; /* NULL: none */
  /* ClientOptions::peer_failure (kvstash/client.h): KVSTASH_PEER_FAILURE_AUTO (0: off for a
   * server on this host, on otherwise), _OFF (1) or _ON (2) */
  int peer_failure_detection;
} kvstash_client_options_t;

/* The message of the last failed call on this thread ("" if none). Valid until the next
 * kvstash call on this thread. */
const char* kvstash_last_error(void);
/* Short name of a status code, e.g. "NotFound". Static storage. */
const char* kvstash_status_name(int status);

int kvstash_client_open(const kvstash_client_options_t* options, kvstash_client_t** out);
/* Unregisters nothing: close every buffer first. NULL is ignored. */
void kvstash_client_close(kvstash_client_t* client);

int kvstash_register_buffer(kvstash_client_t* client, void* data, size_t size,
                            kvstash_buffer_t** out);
/* Allocates `size` bytes registered like kvstash_register_buffer (Client::AllocateBuffer): with
 * a server on this host over shared memory, gets into it are one memcpy by the server. The
 * memory is at kvstash_buffer_data() and is freed by kvstash_unregister_buffer. */
int kvstash_allocate_buffer(kvstash_client_t* client, size_t size, kvstash_buffer_t** out);
/* The first byte of a buffer's memory. */
void* kvstash_buffer_data(const kvstash_buffer_t* buffer);
void kvstash_unregister_buffer(kvstash_buffer_t* buffer);

int kvstash_put(kvstash_client_t* client, const void* key, size_t key_len, const void* value,
                size_t value_len);
/* On success *out_size is the block size; KVSTASH_NOT_FOUND on a miss. */
int kvstash_get(kvstash_client_t* client, const void* key, size_t key_len, void* dest,
                size_t dest_capacity, size_t* out_size);
/* *out_exists = 1 or 0. */
int kvstash_exists(kvstash_client_t* client, const void* key, size_t key_len, int* out_exists);
int kvstash_delete(kvstash_client_t* client, const void* key, size_t key_len);
/* keys[i]/key_lens[i], i < count. *out_count = number of leading keys present. */
int kvstash_longest_prefix(kvstash_client_t* client, const void* const* keys,
                           const size_t* key_lens, size_t count, size_t* out_count);

/* Batched put: per-item codes in statuses[i]; the return value is non-zero only when the
 * whole call failed (then statuses are unset). */
int kvstash_put_batch(kvstash_client_t* client, const void* const* keys, const size_t* key_lens,
                      const void* const* values, const size_t* value_lens, size_t count,
                      int* statuses);
/* Batched get into dests[i] (capacity caps[i]); sizes[i] set for hits. */
int kvstash_get_batch(kvstash_client_t* client, const void* const* keys, const size_t* key_lens,
                      void* const* dests, const size_t* caps, size_t count, int* statuses,
                      size_t* sizes);

/* Looks up one server/store counter by name (e.g. "server.get_hits"). */
int kvstash_stat(kvstash_client_t* client, const char* name, uint64_t* out_value);

#ifdef __cplusplus
}
#endif

#endif /* KVSTASH_KVSTASH_H_ */
