// C API (include/kvstash/kvstash.h) over kvstash::Client. Every entry point catches every
// exception (allocation failures, future errors) so none crosses the C boundary.
#include <exception>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/kvstash.h"

struct kvstash_client {
  std::unique_ptr<kvstash::Client> client;
};

struct kvstash_buffer {
  kvstash::BufferHandle handle;
};

namespace {

thread_local std::string g_last_error;

int Fail(const kvstash::Status& s) {
  g_last_error = s.ToString();
  return static_cast<int>(s.code());
}

int Done(const kvstash::Status& s) {
  if (s.ok()) {
    g_last_error.clear();
    return KVSTASH_OK;
  }
  return Fail(s);
}

template <typename F>
int Guard(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    return Fail(kvstash::Status::Internal(std::string("exception: ") + e.what()));
  } catch (...) {
    return Fail(kvstash::Status::Internal("unknown exception"));
  }
}

std::string_view Key(const void* key, size_t len) {
  return std::string_view(static_cast<const char*>(key), key == nullptr ? 0 : len);
}

int BadArg(const char* what) { return Fail(kvstash::Status::InvalidArgument(what)); }

}  // namespace

extern "C" {

const char* kvstash_last_error(void) { return g_last_error.c_str(); }

const char* kvstash_status_name(int status) {
  if (status < 0 || status > static_cast<int>(kvstash::StatusCode::kInternal)) return "Unknown";
  // StatusCodeName returns views of string literals: NUL-terminated.
  return kvstash::StatusCodeName(static_cast<kvstash::StatusCode>(status)).data();
}

int kvstash_client_open(const kvstash_client_options_t* options, kvstash_client_t** out) {
  return Guard([&] {
    if (out == nullptr) return BadArg("out is null");
    *out = nullptr;
    kvstash::ClientOptions o;
    if (options != nullptr) {
      if (options->server_address != nullptr) o.server_address = options->server_address;
      if (options->timeout_ms != 0) o.timeout = std::chrono::milliseconds(options->timeout_ms);
      o.namespace_id = options->namespace_id;
      if (options->token != nullptr) o.token = options->token;
      o.peer_failure = options->peer_failure_detection == KVSTASH_PEER_FAILURE_OFF
                           ? kvstash::PeerFailureDetection::kOff
                       : options->peer_failure_detection == KVSTASH_PEER_FAILURE_ON
                           ? kvstash::PeerFailureDetection::kOn
                           : kvstash::PeerFailureDetection::kAuto;
    }
    auto c = kvstash::Client::Connect(std::move(o));
    if (!c.ok()) return Fail(c.status());
    *out = new kvstash_client{std::move(c).value()};
    return Done(kvstash::Status::Ok());
  });
}

void kvstash_client_close(kvstash_client_t* client) {
  Guard([&] {
    delete client;
    return 0;
  });
}

int kvstash_register_buffer(kvstash_client_t* client, void* data, size_t size,
                            kvstash_buffer_t** out) {
  return Guard([&] {
    if (client == nullptr || out == nullptr) return BadArg("null argument");
    *out = nullptr;
    auto h = client->client->RegisterBuffer(data, size);
    if (!h.ok()) return Fail(h.status());
    *out = new kvstash_buffer{std::move(h).value()};
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_allocate_buffer(kvstash_client_t* client, size_t size, kvstash_buffer_t** out) {
  return Guard([&] {
    if (client == nullptr || out == nullptr) return BadArg("null argument");
    *out = nullptr;
    auto h = client->client->AllocateBuffer(size);
    if (!h.ok()) return Fail(h.status());
    *out = new kvstash_buffer{std::move(h).value()};
    return Done(kvstash::Status::Ok());
  });
}

void* kvstash_buffer_data(const kvstash_buffer_t* buffer) {
  return buffer == nullptr ? nullptr : buffer->handle.data();
}

void kvstash_unregister_buffer(kvstash_buffer_t* buffer) {
  Guard([&] {
    delete buffer;
    return 0;
  });
}

int kvstash_put(kvstash_client_t* client, const void* key, size_t key_len, const void* value,
                size_t value_len) {
  return Guard([&] {
    if (client == nullptr || (value == nullptr && value_len != 0)) return BadArg("null argument");
    auto v = std::span(static_cast<const std::byte*>(value), value_len);
    return Done(client->client->Put(Key(key, key_len), v));
  });
}

int kvstash_get(kvstash_client_t* client, const void* key, size_t key_len, void* dest,
                size_t dest_capacity, size_t* out_size) {
  return Guard([&] {
    if (client == nullptr || (dest == nullptr && dest_capacity != 0))
      return BadArg("null argument");
    auto r = client->client->Get(Key(key, key_len),
                                 std::span(static_cast<std::byte*>(dest), dest_capacity));
    if (!r.ok()) return Fail(r.status());
    if (out_size != nullptr) *out_size = *r;
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_exists(kvstash_client_t* client, const void* key, size_t key_len, int* out_exists) {
  return Guard([&] {
    if (client == nullptr || out_exists == nullptr) return BadArg("null argument");
    auto r = client->client->Exists(Key(key, key_len));
    if (!r.ok()) return Fail(r.status());
    *out_exists = *r ? 1 : 0;
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_delete(kvstash_client_t* client, const void* key, size_t key_len) {
  return Guard([&] {
    if (client == nullptr) return BadArg("null argument");
    return Done(client->client->Delete(Key(key, key_len)));
  });
}

int kvstash_longest_prefix(kvstash_client_t* client, const void* const* keys,
                           const size_t* key_lens, size_t count, size_t* out_count) {
  return Guard([&] {
    if (client == nullptr || out_count == nullptr || (count > 0 && (!keys || !key_lens))) {
      return BadArg("null argument");
    }
    std::vector<std::string_view> k;
    for (size_t i = 0; i < count; ++i) k.push_back(Key(keys[i], key_lens[i]));
    auto r = client->client->LongestPrefix(k);
    if (!r.ok()) return Fail(r.status());
    *out_count = *r;
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_put_batch(kvstash_client_t* client, const void* const* keys, const size_t* key_lens,
                      const void* const* values, const size_t* value_lens, size_t count,
                      int* statuses) {
  return Guard([&] {
    if (client == nullptr ||
        (count > 0 && (!keys || !key_lens || !values || !value_lens || !statuses))) {
      return BadArg("null argument");
    }
    std::vector<kvstash::PutItem> items;
    for (size_t i = 0; i < count; ++i) {
      items.push_back({Key(keys[i], key_lens[i]),
                       std::span(static_cast<const std::byte*>(values[i]), value_lens[i])});
    }
    auto r = client->client->PutBatch(items);
    if (!r.ok()) return Fail(r.status());
    for (size_t i = 0; i < count; ++i) statuses[i] = static_cast<int>((*r)[i].code());
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_get_batch(kvstash_client_t* client, const void* const* keys, const size_t* key_lens,
                      void* const* dests, const size_t* caps, size_t count, int* statuses,
                      size_t* sizes) {
  return Guard([&] {
    if (client == nullptr ||
        (count > 0 && (!keys || !key_lens || !dests || !caps || !statuses || !sizes))) {
      return BadArg("null argument");
    }
    std::vector<kvstash::GetItem> items;
    for (size_t i = 0; i < count; ++i) {
      items.push_back(
          {Key(keys[i], key_lens[i]), std::span(static_cast<std::byte*>(dests[i]), caps[i])});
    }
    auto r = client->client->GetBatch(items);
    if (!r.ok()) return Fail(r.status());
    for (size_t i = 0; i < count; ++i) {
      statuses[i] = static_cast<int>((*r)[i].status().code());
      sizes[i] = (*r)[i].ok() ? *(*r)[i] : 0;
    }
    return Done(kvstash::Status::Ok());
  });
}

int kvstash_stat(kvstash_client_t* client, const char* name, uint64_t* out_value) {
  return Guard([&] {
    if (client == nullptr || name == nullptr || out_value == nullptr)
      return BadArg("null argument");
    auto r = client->client->Stats();
    if (!r.ok()) return Fail(r.status());
    auto it = r->find(name);
    if (it == r->end()) return Fail(kvstash::Status::NotFound(std::string("no stat ") + name));
    *out_value = it->second;
    return Done(kvstash::Status::Ok());
  });
}

}  // extern "C"
