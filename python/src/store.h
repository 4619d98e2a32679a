// kvstash_client.Store: the blocking client of the Python package, over a Backend: one
// kvstashd ("host:port", kvstash::Client) or a cluster ("etcd://..." or "nodes://...",
// kvstash::ClusterClient).
//
// Return conventions are Mooncake Store's (python/kvstash_client/_native.pyi): 0 or a byte
// count on success, a negative ErrorCode (-StatusCode) on failure; get() returns b"" on a
// miss. Only the constructor and allocate_buffer() raise. Every call that talks to the server
// releases the GIL. A failure records its message for last_error() (per thread), counts it,
// and is logged through the `kvstash_client` logger at most once per second.
//
// Thread safety: a Store may be shared between Python threads; the C++ client serializes the
// calls on its one connection per server (use several Stores, or AsyncStore, for parallel
// streams).
// close() waits for calls in flight. Memory from allocate_buffer() stays valid while its
// Buffer lives, even after close().
#ifndef KVSTASH_PYTHON_STORE_H_
#define KVSTASH_PYTHON_STORE_H_

#include <pybind11/pybind11.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "kvstash/client.h"
#include "py_memory.h"

namespace kvstash::python {

// Counters of the Python layer, reported by stats() as "python.<name>".
struct PyCounters {
  std::atomic<uint64_t> calls{0};            // data-path items attempted
  std::atomic<uint64_t> misses{0};           // NotFound
  std::atomic<uint64_t> already_present{0};  // puts of a committed key (write-once)
  std::atomic<uint64_t> errors{0};           // any other failure
  std::atomic<uint64_t> put_bytes{0};
  std::atomic<uint64_t> get_bytes{0};
  void AddTo(std::map<std::string, uint64_t>& out) const;
};

// Negative code of a status (0 when OK) and the bookkeeping of a failure: last_error(),
// counters, the rate-limited log line. GIL held.
int Outcome(const Status& s, PyCounters& counters);
// This thread's last failure message ("" after a success is not reset: Mooncake's habit).
const std::string& LastError();
// Records `s` as this thread's last error and logs it (rate-limited). GIL held.
void RecordFailure(const Status& s);

// Key of str (UTF-8) or bytes.
Result<std::string> KeyOf(pybind11::handle key);

// Parses the keyword options shared by Store and AsyncStore. `server` is "host:port" or a
// cluster address (kvstash::IsClusterAddress), kept in server_address either way.
Result<ClientOptions> MakeOptions(const std::string& server, int64_t timeout_ms,
                                  int64_t connect_timeout_ms, int namespace_id,
                                  const std::string& token, bool send_checksums,
                                  const std::string& transfer, const std::string& peer_failure);

// Raises the constructors' error for a failed Backend::Connect: ValueError (options) or
// ConnectionError naming the server or cluster.
[[noreturn]] void ThrowConnectFailure(const std::string& server, const Status& s);

// Owns the backend and what is registered with it; shared with the Buffers it allocated.
struct StoreState {
  std::shared_mutex mu;  // shared by calls, exclusive by close()
  std::unique_ptr<Backend> backend;
  bool closed = false;  // under mu: calls fail with Unavailable
  std::mutex registrations_mu;
  struct Registration {
    BackendBuffer buffer;
    MemoryView view;
  };
  std::map<uintptr_t, Registration> registrations;  // by start address
  std::vector<BackendBuffer> allocations;           // kept until the state goes
  PyCounters counters;
  // Registrations hold Python references: destroy with the GIL held.
  ~StoreState();
};

// Memory from Store.allocate_buffer(); the buffer protocol exposes it as bytes.
class PyBuffer {
 public:
  PyBuffer(std::shared_ptr<StoreState> state, std::byte* data, size_t size)
      : state_(std::move(state)), data_(data), size_(size) {}
  uintptr_t ptr() const { return reinterpret_cast<uintptr_t>(data_); }
  size_t size() const { return size_; }
  std::byte* data() const { return data_; }

 private:
  std::shared_ptr<StoreState> state_;  // keeps the memory's owner alive
  std::byte* data_;
  size_t size_;
};

class Store {
 public:
  // Connects; throws ValueError (options) or ConnectionError (server or etcd unreachable).
  Store(ClientOptions options);
  ~Store();

  int Put(pybind11::handle key, pybind11::handle value);
  int PutFrom(pybind11::handle key, uintptr_t ptr, size_t size);
  pybind11::bytes Get(pybind11::handle key);
  int64_t GetInto(pybind11::handle key, pybind11::handle buffer, std::optional<size_t> size);
  int IsExist(pybind11::handle key);
  int Remove(pybind11::handle key);
  int RegisterBuffer(pybind11::handle buffer, std::optional<size_t> size);
  int UnregisterBuffer(pybind11::handle buffer);
  PyBuffer AllocateBuffer(size_t size);
  std::vector<int64_t> BatchPutFrom(pybind11::sequence keys, pybind11::sequence ptrs,
                                    pybind11::sequence sizes);
  std::vector<int64_t> BatchGetInto(pybind11::sequence keys, pybind11::sequence ptrs,
                                    pybind11::sequence sizes);
  std::vector<int64_t> BatchPut(pybind11::sequence keys, pybind11::sequence values);
  std::vector<int64_t> BatchGet(pybind11::sequence keys, pybind11::sequence buffers);
  std::vector<int> BatchIsExist(pybind11::sequence keys);
  std::vector<int> BatchRemove(pybind11::sequence keys);
  int64_t LongestPrefix(pybind11::sequence keys);
  std::map<std::string, uint64_t> Stats();
  // One dict per node (Backend::Nodes()); [] once closed.
  pybind11::list Nodes();
  void Close();
  const std::string& server() const { return server_; }

 private:
  std::vector<int64_t> PutItems(pybind11::sequence keys,
                                const std::vector<pybind11::object>& buffers,
                                const std::vector<std::optional<size_t>>& sizes);
  std::vector<int64_t> GetItems(pybind11::sequence keys,
                                const std::vector<pybind11::object>& buffers,
                                const std::vector<std::optional<size_t>>& sizes);
  std::string server_;
  std::shared_ptr<StoreState> state_;
};

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_STORE_H_
