#include "store.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>

namespace kvstash::python {

namespace py = pybind11;

namespace {

thread_local std::string g_last_error;

// One log line per second at most, with the count of those left out.
void LogFailure(const Status& s) {
  static std::atomic<int64_t> next_ns{0};
  static std::atomic<uint64_t> suppressed{0};
  int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t next = next_ns.load(std::memory_order_relaxed);
  if (now < next || !next_ns.compare_exchange_strong(next, now + 1'000'000'000)) {
    suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t left_out = suppressed.exchange(0);
  try {
    py::module_::import("logging")
        .attr("getLogger")("kvstash_client")
        .attr("warning")(fmt::format("kvstash: {}{}", s.ToString(),
                                     left_out ? fmt::format(" ({} more failures left out of "
                                                            "the log in the last second)",
                                                            left_out)
                                              : std::string()));
  } catch (const py::error_already_set&) {
    // Logging must never turn a failure into an exception (interpreter shutting down).
  }
}

// A key or value resolution failure for one item of a batch.
struct Resolved {
  std::vector<std::string> keys;
  std::vector<MemoryView> views;
  std::vector<Status> errors;  // per item; OK when keys[i] and views[i] are usable
};

Status ClosedError() { return Status::Unavailable("the Store is closed"); }

}  // namespace

void PyCounters::AddTo(std::map<std::string, uint64_t>& out) const {
  out["python.calls"] = calls.load();
  out["python.misses"] = misses.load();
  out["python.already_present"] = already_present.load();
  out["python.errors"] = errors.load();
  out["python.put_bytes"] = put_bytes.load();
  out["python.get_bytes"] = get_bytes.load();
}

const std::string& LastError() { return g_last_error; }

void RecordFailure(const Status& s) {
  g_last_error = s.ToString();
  // A miss, and a put of a key that is already there (blocks are write-once: the bytes are
  // stored), are outcomes a cache expects, not failures worth a log line.
  if (s.code() != StatusCode::kNotFound && s.code() != StatusCode::kAlreadyExists) {
    LogFailure(s);
  }
}

int Outcome(const Status& s, PyCounters& counters) {
  if (s.ok()) return 0;
  switch (s.code()) {
    case StatusCode::kNotFound:
      counters.misses++;
      break;
    case StatusCode::kAlreadyExists:
      counters.already_present++;
      break;
    default:
      counters.errors++;
  }
  RecordFailure(s);
  return -static_cast<int>(s.code());
}

Result<std::string> KeyOf(py::handle key) {
  if (PyUnicode_Check(key.ptr())) {
    Py_ssize_t n = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(key.ptr(), &n);
    if (utf8 == nullptr) {
      PyErr_Clear();
      return Status::InvalidArgument("key is not valid UTF-8");
    }
    return std::string(utf8, static_cast<size_t>(n));
  }
  if (PyBytes_Check(key.ptr())) {
    return std::string(PyBytes_AS_STRING(key.ptr()), PyBytes_GET_SIZE(key.ptr()));
  }
  return Status::InvalidArgument("a key is str or bytes");
}

Result<ClientOptions> MakeOptions(const std::string& server, int64_t timeout_ms,
                                  int64_t connect_timeout_ms, int namespace_id,
                                  const std::string& token, bool send_checksums,
                                  const std::string& transfer, const std::string& peer_failure) {
  ClientOptions o;
  o.server_address = server;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  o.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  if (namespace_id < 0 || namespace_id > 0xffff) {
    return Status::InvalidArgument("namespace must be in [0, 65535]");
  }
  o.namespace_id = static_cast<uint16_t>(namespace_id);
  o.token = token;
  o.send_checksums = send_checksums;
  if (transfer == "auto") {
    o.transfer = ClientOptions::Transfer::kAuto;
  } else if (transfer == "rma") {
    o.transfer = ClientOptions::Transfer::kRma;
  } else if (transfer == "message") {
    o.transfer = ClientOptions::Transfer::kMessage;
  } else {
    return Status::InvalidArgument("transfer must be \"auto\", \"rma\" or \"message\"");
  }
  if (peer_failure == "auto") {
    o.peer_failure = PeerFailureDetection::kAuto;
  } else if (peer_failure == "on") {
    o.peer_failure = PeerFailureDetection::kOn;
  } else if (peer_failure == "off") {
    o.peer_failure = PeerFailureDetection::kOff;
  } else {
    return Status::InvalidArgument("peer_failure must be \"auto\", \"on\" or \"off\"");
  }
  KVSTASH_RETURN_IF_ERROR(ValidateBackendOptions(o));
  return o;
}

void ThrowConnectFailure(const std::string& server, const Status& s) {
  std::string what =
      fmt::format("kvstash: cannot {} {}: {}",
                  IsClusterAddress(server) ? "reach cluster" : "connect to", server, s.ToString());
  if (s.code() == StatusCode::kInvalidArgument) throw py::value_error(what);
  PyErr_SetString(PyExc_ConnectionError, what.c_str());
  throw py::error_already_set();
}

StoreState::~StoreState() {
  registrations.clear();  // handles unregister, views drop their Python references
  allocations.clear();
  backend.reset();
}

Store::Store(ClientOptions options) : server_(options.server_address) {
  Result<std::unique_ptr<Backend>> backend = [&] {
    py::gil_scoped_release unlocked;
    return Backend::Connect(options);
  }();
  if (!backend.ok()) ThrowConnectFailure(server_, backend.status());
  state_ = std::make_shared<StoreState>();
  state_->backend = std::move(backend).value();
}

Store::~Store() = default;  // the state goes with the last Buffer

// Runs fn(backend) with the GIL released while the Store is open; Unavailable once closed.
template <typename Fn>
auto WithBackend(StoreState& state, Fn&& fn) -> decltype(fn(std::declval<Backend&>())) {
  py::gil_scoped_release unlocked;
  std::shared_lock lock(state.mu);
  if (state.closed) return ClosedError();
  return fn(*state.backend);
}

int Store::Put(py::handle key, py::handle value) {
  state_->counters.calls++;
  auto k = KeyOf(key);
  if (!k.ok()) return Outcome(k.status(), state_->counters);
  auto v = MemoryView::Resolve(value, std::nullopt, /*writable=*/false);
  if (!v.ok()) return Outcome(v.status(), state_->counters);
  Status s = WithBackend(*state_, [&](Backend& c) { return c.Put(*k, v->span()); });
  if (s.ok()) state_->counters.put_bytes += v->size();
  return Outcome(s, state_->counters);
}

int Store::PutFrom(py::handle key, uintptr_t ptr, size_t size) {
  return Put(key, py::memoryview::from_memory(reinterpret_cast<void*>(ptr),
                                              static_cast<py::ssize_t>(size), true));
}

int64_t Store::GetInto(py::handle key, py::handle buffer, std::optional<size_t> size) {
  state_->counters.calls++;
  auto k = KeyOf(key);
  if (!k.ok()) return Outcome(k.status(), state_->counters);
  auto d = MemoryView::Resolve(buffer, size, /*writable=*/true);
  if (!d.ok()) return Outcome(d.status(), state_->counters);
  Result<size_t> n = WithBackend(*state_, [&](Backend& c) { return c.Get(*k, d->span()); });
  if (!n.ok()) return Outcome(n.status(), state_->counters);
  state_->counters.get_bytes += *n;
  return static_cast<int64_t>(*n);
}

py::bytes Store::Get(py::handle key) {
  state_->counters.calls++;
  auto k = KeyOf(key);
  if (!k.ok()) {
    Outcome(k.status(), state_->counters);
    return py::bytes();
  }
  // A first try into 1 MiB (most KV pages fit); a larger block's size comes back in the
  // server's reply and is named in the InvalidArgument message ("block is N bytes"), so the
  // second try fits exactly.
  thread_local std::vector<std::byte> scratch(1 << 20);
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<size_t> n = WithBackend(*state_, [&](Backend& c) { return c.Get(*k, scratch); });
    if (n.ok()) {
      state_->counters.get_bytes += *n;
      return py::bytes(reinterpret_cast<const char*>(scratch.data()), *n);
    }
    const std::string& m = n.status().message();
    size_t at = m.rfind("block is ");
    if (attempt == 0 && n.status().code() == StatusCode::kInvalidArgument &&
        at != std::string::npos) {
      scratch.resize(std::stoull(m.substr(at + 9)));
      continue;
    }
    Outcome(n.status(), state_->counters);
    break;
  }
  return py::bytes();
}

int Store::IsExist(py::handle key) {
  state_->counters.calls++;
  auto k = KeyOf(key);
  if (!k.ok()) return Outcome(k.status(), state_->counters);
  Result<bool> e = WithBackend(*state_, [&](Backend& c) { return c.Exists(*k); });
  if (!e.ok()) return Outcome(e.status(), state_->counters);
  return *e ? 1 : 0;
}

int Store::Remove(py::handle key) {
  state_->counters.calls++;
  auto k = KeyOf(key);
  if (!k.ok()) return Outcome(k.status(), state_->counters);
  Status s = WithBackend(*state_, [&](Backend& c) { return c.Delete(*k); });
  return Outcome(s, state_->counters);
}

int Store::RegisterBuffer(py::handle buffer, std::optional<size_t> size) {
  auto v = MemoryView::Resolve(buffer, size, /*writable=*/false);
  if (!v.ok()) return Outcome(v.status(), state_->counters);
  uintptr_t address = reinterpret_cast<uintptr_t>(v->data());
  {
    std::lock_guard lock(state_->registrations_mu);
    if (state_->registrations.count(address)) {
      return Outcome(Status::AlreadyExists("a buffer at this address is registered"),
                     state_->counters);
    }
  }
  Result<BackendBuffer> b =
      WithBackend(*state_, [&](Backend& c) { return c.RegisterBuffer(v->data(), v->size()); });
  if (!b.ok()) return Outcome(b.status(), state_->counters);
  std::lock_guard lock(state_->registrations_mu);
  state_->registrations.emplace(address, StoreState::Registration{std::move(*b), std::move(*v)});
  return 0;
}

int Store::UnregisterBuffer(py::handle buffer) {
  uintptr_t address = 0;
  {
    // An int address resolves with any size (nothing is read); an object to its start.
    auto v = MemoryView::Resolve(buffer, size_t{1}, /*writable=*/false);
    if (!v.ok()) return Outcome(v.status(), state_->counters);
    address = reinterpret_cast<uintptr_t>(v->data());
  }
  StoreState::Registration gone;
  {
    std::lock_guard lock(state_->registrations_mu);
    auto it = state_->registrations.find(address);
    if (it == state_->registrations.end()) {
      return Outcome(Status::InvalidArgument("no buffer registered at this address"),
                     state_->counters);
    }
    gone = std::move(it->second);
    state_->registrations.erase(it);
  }
  py::gil_scoped_release unlocked;
  std::shared_lock lock(state_->mu);
  gone.buffer = BackendBuffer();  // unregisters with the server while the client is open
  return 0;
}

PyBuffer Store::AllocateBuffer(size_t size) {
  Result<BackendBuffer> b =
      WithBackend(*state_, [&](Backend& c) { return c.AllocateBuffer(size); });
  if (!b.ok()) {
    RecordFailure(b.status());
    throw std::runtime_error("kvstash: allocate_buffer failed: " + b.status().ToString());
  }
  std::byte* data = b->data();
  std::lock_guard lock(state_->registrations_mu);
  state_->allocations.push_back(std::move(*b));
  return PyBuffer(state_, data, size);
}

namespace {

// Keys and views of a batch; an item that does not resolve carries its error instead.
Resolved ResolveBatch(py::sequence keys, const std::vector<py::object>& buffers,
                      const std::vector<std::optional<size_t>>& sizes, bool writable) {
  Resolved r;
  size_t n = keys.size();
  r.keys.resize(n);
  r.views.resize(n);
  r.errors.resize(n);
  if (buffers.size() != n || sizes.size() != n) {
    for (auto& e : r.errors) {
      e = Status::InvalidArgument("keys, buffers and sizes differ in length");
    }
    return r;
  }
  for (size_t i = 0; i < n; ++i) {
    auto k = KeyOf(keys[i]);
    if (!k.ok()) {
      r.errors[i] = k.status();
      continue;
    }
    r.keys[i] = std::move(*k);
    auto v = MemoryView::Resolve(buffers[i], sizes[i], writable);
    if (!v.ok()) {
      r.errors[i] = v.status();
      continue;
    }
    r.views[i] = std::move(*v);
  }
  return r;
}

std::vector<py::object> Objects(py::sequence s) {
  std::vector<py::object> out;
  out.reserve(s.size());
  for (py::handle h : s) out.push_back(py::reinterpret_borrow<py::object>(h));
  return out;
}

std::vector<std::optional<size_t>> Sizes(py::sequence s) {
  std::vector<std::optional<size_t>> out;
  out.reserve(s.size());
  for (py::handle h : s) out.push_back(h.cast<size_t>());
  return out;
}

}  // namespace

std::vector<int64_t> Store::BatchPutFrom(py::sequence keys, py::sequence ptrs, py::sequence sizes) {
  return PutItems(keys, Objects(ptrs), Sizes(sizes));
}

std::vector<int64_t> Store::BatchPut(py::sequence keys, py::sequence values) {
  return PutItems(keys, Objects(values),
                  std::vector<std::optional<size_t>>(values.size(), std::nullopt));
}

std::vector<int64_t> Store::BatchGetInto(py::sequence keys, py::sequence ptrs, py::sequence sizes) {
  return GetItems(keys, Objects(ptrs), Sizes(sizes));
}

std::vector<int64_t> Store::BatchGet(py::sequence keys, py::sequence buffers) {
  return GetItems(keys, Objects(buffers),
                  std::vector<std::optional<size_t>>(buffers.size(), std::nullopt));
}

std::vector<int64_t> Store::PutItems(py::sequence keys, const std::vector<py::object>& buffers,
                                     const std::vector<std::optional<size_t>>& sizes) {
  Resolved r = ResolveBatch(keys, buffers, sizes, /*writable=*/false);
  size_t n = r.keys.size();
  state_->counters.calls += n;
  std::vector<PutItem> items;
  std::vector<size_t> index;  // items[j] is batch entry index[j]
  for (size_t i = 0; i < n; ++i) {
    if (!r.errors[i].ok()) continue;
    items.push_back({r.keys[i], r.views[i].span()});
    index.push_back(i);
  }
  Result<std::vector<Status>> done = std::vector<Status>();
  if (!items.empty()) {
    done = WithBackend(*state_, [&](Backend& c) { return c.PutBatch(items); });
  }
  for (size_t j = 0; j < index.size(); ++j) {
    r.errors[index[j]] = done.ok() ? (*done)[j] : done.status();
    if (r.errors[index[j]].ok()) state_->counters.put_bytes += items[j].value.size();
  }
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = Outcome(r.errors[i], state_->counters);
  return out;
}

std::vector<int64_t> Store::GetItems(py::sequence keys, const std::vector<py::object>& buffers,
                                     const std::vector<std::optional<size_t>>& sizes) {
  Resolved r = ResolveBatch(keys, buffers, sizes, /*writable=*/true);
  size_t n = r.keys.size();
  state_->counters.calls += n;
  std::vector<GetItem> items;
  std::vector<size_t> index;
  for (size_t i = 0; i < n; ++i) {
    if (!r.errors[i].ok()) continue;
    items.push_back({r.keys[i], r.views[i].span()});
    index.push_back(i);
  }
  Result<std::vector<Result<size_t>>> done = std::vector<Result<size_t>>();
  if (!items.empty()) {
    done = WithBackend(*state_, [&](Backend& c) { return c.GetBatch(items); });
  }
  std::vector<int64_t> out(n, 0);
  for (size_t j = 0; j < index.size(); ++j) {
    if (!done.ok()) {
      r.errors[index[j]] = done.status();
    } else if (!(*done)[j].ok()) {
      r.errors[index[j]] = (*done)[j].status();
    } else {
      out[index[j]] = static_cast<int64_t>(*(*done)[j]);
      state_->counters.get_bytes += *(*done)[j];
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!r.errors[i].ok()) out[i] = Outcome(r.errors[i], state_->counters);
  }
  return out;
}

namespace {

// Keys of a batch, or the first key's error.
Result<std::vector<std::string>> KeysOf(py::sequence keys) {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (py::handle k : keys) {
    KVSTASH_ASSIGN_OR_RETURN(std::string s, KeyOf(k));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string_view> Views(const std::vector<std::string>& keys) {
  return {keys.begin(), keys.end()};
}

}  // namespace

std::vector<int> Store::BatchIsExist(py::sequence keys) {
  state_->counters.calls += keys.size();
  auto k = KeysOf(keys);
  if (!k.ok()) return std::vector<int>(keys.size(), Outcome(k.status(), state_->counters));
  auto views = Views(*k);
  Result<std::vector<bool>> e =
      WithBackend(*state_, [&](Backend& c) { return c.ExistsBatch(views); });
  if (!e.ok()) return std::vector<int>(keys.size(), Outcome(e.status(), state_->counters));
  return std::vector<int>(e->begin(), e->end());
}

std::vector<int> Store::BatchRemove(py::sequence keys) {
  state_->counters.calls += keys.size();
  auto k = KeysOf(keys);
  if (!k.ok()) return std::vector<int>(keys.size(), Outcome(k.status(), state_->counters));
  auto views = Views(*k);
  Result<std::vector<Status>> d =
      WithBackend(*state_, [&](Backend& c) { return c.DeleteBatch(views); });
  if (!d.ok()) return std::vector<int>(keys.size(), Outcome(d.status(), state_->counters));
  std::vector<int> out;
  out.reserve(d->size());
  for (const Status& s : *d) out.push_back(Outcome(s, state_->counters));
  return out;
}

int64_t Store::LongestPrefix(py::sequence keys) {
  state_->counters.calls++;
  auto k = KeysOf(keys);
  if (!k.ok()) return Outcome(k.status(), state_->counters);
  auto views = Views(*k);
  Result<size_t> n = WithBackend(*state_, [&](Backend& c) { return c.LongestPrefix(views); });
  if (!n.ok()) return Outcome(n.status(), state_->counters);
  return static_cast<int64_t>(*n);
}

std::map<std::string, uint64_t> Store::Stats() {
  Result<std::map<std::string, uint64_t>> s =
      WithBackend(*state_, [&](Backend& c) { return c.Stats(); });
  std::map<std::string, uint64_t> out;
  if (s.ok()) {
    out = std::move(*s);
  } else {
    RecordFailure(s.status());  // the local counters still answer
  }
  state_->counters.AddTo(out);
  return out;
}

py::list Store::Nodes() {
  Result<std::vector<ClusterNodeStatus>> nodes = WithBackend(
      *state_, [&](Backend& c) -> Result<std::vector<ClusterNodeStatus>> { return c.Nodes(); });
  py::list out;
  if (!nodes.ok()) return out;  // closed
  for (const ClusterNodeStatus& n : *nodes) {
    py::dict d;
    d["name"] = n.name;
    d["address"] = n.address;
    d["state"] = n.state;
    d["boot_id"] = n.boot_id;
    d["weight"] = n.weight;
    d["dram_bytes"] = n.dram_bytes;
    d["flash_bytes"] = n.flash_bytes;
    d["metrics_address"] = n.metrics_address;
    d["connected"] = n.connected;
    d["failures"] = n.failures;
    out.append(std::move(d));
  }
  return out;
}

void Store::Close() {
  {
    std::lock_guard lock(state_->registrations_mu);
    state_->registrations.clear();  // GIL held: views drop their references
  }
  py::gil_scoped_release unlocked;
  std::unique_lock lock(state_->mu);
  state_->closed = true;
  // Memory handed out by allocate_buffer() stays until its Buffers go: the client goes with
  // the state when they hold it, at once otherwise.
  if (state_.use_count() == 1) {
    state_->allocations.clear();
    state_->backend.reset();
  }
}

}  // namespace kvstash::python
