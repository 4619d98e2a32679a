// kvstash_client._native: the pybind11 bindings of Store, Buffer and AsyncStore
// (python/kvstash_client/_native.pyi is their documented signature).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <mutex>

#include "async_store.h"
#include "py_memory.h"
#include "store.h"

namespace py = pybind11;

namespace kvstash::python {
namespace {

ClientOptions OptionsOrThrow(const std::string& server, int64_t timeout_ms,
                             int64_t connect_timeout_ms, int namespace_id, const std::string& token,
                             bool send_checksums, const std::string& transfer,
                             const std::string& peer_failure) {
  auto o = MakeOptions(server, timeout_ms, connect_timeout_ms, namespace_id, token, send_checksums,
                       transfer, peer_failure);
  if (!o.ok()) throw py::value_error("kvstash: " + o.status().ToString());
  return *o;
}

// AsyncStore plus the Python buffers its batches use, held until their completion is drained.
class PyAsyncStore {
 public:
  explicit PyAsyncStore(ClientOptions options, int num_workers) : server_(options.server_address) {
    Result<std::unique_ptr<AsyncStore>> s = [&] {
      py::gil_scoped_release unlocked;
      return AsyncStore::Create(options, num_workers);
    }();
    if (!s.ok()) ThrowConnectFailure(server_, s.status());
    store_ = std::move(*s);
  }
  ~PyAsyncStore() { Close(); }

  int event_fd() const { return store_->event_fd(); }

  uint64_t SubmitData(AsyncOp op, py::sequence keys, py::sequence views) {
    size_t n = keys.size();
    if (views.size() != n) {
      return Failed(op, n, Status::InvalidArgument("keys and memoryviews differ in length"));
    }
    std::vector<std::string> k;
    std::vector<MemoryView> held;
    std::vector<std::span<std::byte>> spans;
    k.reserve(n);
    held.reserve(n);
    spans.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto key = KeyOf(keys[i]);
      if (!key.ok()) return Failed(op, n, key.status());
      auto v = MemoryView::Resolve(views[i], std::nullopt, /*writable=*/op == AsyncOp::kGet);
      if (!v.ok()) return Failed(op, n, v.status());
      k.push_back(std::move(*key));
      spans.push_back(v->span());
      held.push_back(std::move(*v));
    }
    // The GIL stays held: drain_completions() (which needs it too) cannot see this batch's
    // completion before its buffers are recorded below.
    uint64_t id = store_->Submit(op, std::move(k), std::move(spans));
    held_.emplace(id, std::move(held));
    return id;
  }

  uint64_t SubmitKeys(AsyncOp op, py::sequence keys) {
    std::vector<std::string> k;
    k.reserve(keys.size());
    for (py::handle h : keys) {
      auto key = KeyOf(h);
      if (!key.ok()) return Failed(op, keys.size(), key.status());
      k.push_back(std::move(*key));
    }
    return store_->Submit(op, std::move(k), {});
  }

  py::list Drain() {
    py::list out;
    for (Completion& c : store_->Drain()) {
      held_.erase(c.future_id);
      py::list bools;
      for (uint8_t v : c.results) bools.append(py::bool_(v != 0));
      if (!c.ok) RecordFailure(Status(StatusCode::kUnavailable, c.error));
      out.append(py::make_tuple(c.future_id, c.ok, c.error, bools));
    }
    return out;
  }

  std::map<std::string, uint64_t> Stats() {
    Result<std::map<std::string, uint64_t>> s = [&] {
      py::gil_scoped_release unlocked;
      return store_->Stats();
    }();
    if (!s.ok()) {
      RecordFailure(s.status());
      return {};
    }
    return *s;
  }

  // Later submissions complete at once, not ok. Idempotent.
  void Close() {
    {
      py::gil_scoped_release unlocked;
      store_->Close();  // waits for running batches: their buffers are still held
    }
    held_.clear();
  }

 private:
  uint64_t Failed(AsyncOp op, size_t n, const Status& why) {
    return store_->SubmitFailed(op, n, why);
  }

  std::string server_;
  std::unique_ptr<AsyncStore> store_;
  std::map<uint64_t, std::vector<MemoryView>> held_;  // GIL held
};

}  // namespace
}  // namespace kvstash::python

PYBIND11_MODULE(_native, m) {
  using namespace kvstash;
  using namespace kvstash::python;
  m.doc() = "kvstash client (see kvstash_client/_native.pyi)";

  m.def("error_name", [](int code) {
    if (code == 0) return std::string("OK");
    if (code > 0 || code < -12) return std::string("Unknown");
    return std::string(StatusCodeName(static_cast<StatusCode>(-code)));
  });
  m.def("cuda_support", &Client::cuda_support);
  m.def(
      "last_error", [] { return LastError(); },
      "This thread's last failure message from any kvstash call.");

  py::class_<PyBuffer>(m, "Buffer", py::buffer_protocol())
      .def_property_readonly("ptr", &PyBuffer::ptr)
      .def_property_readonly("size", &PyBuffer::size)
      .def("__len__", &PyBuffer::size)
      .def_buffer([](PyBuffer& b) {
        return py::buffer_info(b.data(), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(b.size())}, {py::ssize_t{1}});
      });

  py::class_<Store>(m, "Store")
      .def(py::init([](const std::string& server, int64_t timeout_ms, int64_t connect_timeout_ms,
                       int namespace_id, const std::string& token, bool send_checksums,
                       const std::string& transfer, const std::string& peer_failure) {
             return std::make_unique<Store>(OptionsOrThrow(server, timeout_ms, connect_timeout_ms,
                                                           namespace_id, token, send_checksums,
                                                           transfer, peer_failure));
           }),
           py::arg("server") = "127.0.0.1:7400", py::kw_only(), py::arg("timeout_ms") = 5000,
           py::arg("connect_timeout_ms") = 1000, py::arg("namespace") = 0, py::arg("token") = "",
           py::arg("send_checksums") = true, py::arg("transfer") = "auto",
           py::arg("peer_failure") = "auto")
      .def("put", &Store::Put, py::arg("key"), py::arg("value"))
      .def("put_from", &Store::PutFrom, py::arg("key"), py::arg("buffer_ptr"), py::arg("size"))
      .def("get", &Store::Get, py::arg("key"))
      .def("get_into", &Store::GetInto, py::arg("key"), py::arg("buffer"),
           py::arg("size") = py::none())
      .def("is_exist", &Store::IsExist, py::arg("key"))
      .def("remove", &Store::Remove, py::arg("key"))
      .def("register_buffer", &Store::RegisterBuffer, py::arg("buffer"),
           py::arg("size") = py::none())
      .def("unregister_buffer", &Store::UnregisterBuffer, py::arg("buffer"))
      .def("allocate_buffer", &Store::AllocateBuffer, py::arg("size"))
      .def("batch_put_from", &Store::BatchPutFrom, py::arg("keys"), py::arg("buffer_ptrs"),
           py::arg("sizes"))
      .def("batch_get_into", &Store::BatchGetInto, py::arg("keys"), py::arg("buffer_ptrs"),
           py::arg("sizes"))
      .def("batch_put", &Store::BatchPut, py::arg("keys"), py::arg("values"))
      .def("batch_get", &Store::BatchGet, py::arg("keys"), py::arg("buffers"))
      .def("batch_is_exist", &Store::BatchIsExist, py::arg("keys"))
      .def("batch_remove", &Store::BatchRemove, py::arg("keys"))
      .def("longest_prefix", &Store::LongestPrefix, py::arg("keys"))
      .def("stats", &Store::Stats)
      .def("nodes", &Store::Nodes)
      .def("last_error", [](Store&) { return LastError(); })
      .def("close", &Store::Close)
      .def_property_readonly("server", &Store::server)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](Store& s, py::args) { s.Close(); });

  py::class_<PyAsyncStore>(m, "AsyncStore")
      .def(py::init([](const std::string& server, int num_workers, int64_t timeout_ms,
                       int64_t connect_timeout_ms, int namespace_id, const std::string& token,
                       const std::string& transfer, const std::string& peer_failure) {
             return std::make_unique<PyAsyncStore>(
                 OptionsOrThrow(server, timeout_ms, connect_timeout_ms, namespace_id, token,
                                /*send_checksums=*/true, transfer, peer_failure),
                 num_workers);
           }),
           py::arg("server") = "127.0.0.1:7400", py::kw_only(), py::arg("num_workers") = 2,
           py::arg("timeout_ms") = 5000, py::arg("connect_timeout_ms") = 1000,
           py::arg("namespace") = 0, py::arg("token") = "", py::arg("transfer") = "auto",
           py::arg("peer_failure") = "auto")
      .def("event_fd", &PyAsyncStore::event_fd)
      .def(
          "submit_batch_get",
          [](PyAsyncStore& s, py::sequence keys, py::sequence views) {
            return s.SubmitData(AsyncOp::kGet, keys, views);
          },
          py::arg("keys"), py::arg("memoryviews"))
      .def(
          "submit_batch_set",
          [](PyAsyncStore& s, py::sequence keys, py::sequence views) {
            return s.SubmitData(AsyncOp::kSet, keys, views);
          },
          py::arg("keys"), py::arg("memoryviews"))
      .def(
          "submit_batch_exists",
          [](PyAsyncStore& s, py::sequence keys) { return s.SubmitKeys(AsyncOp::kExists, keys); },
          py::arg("keys"))
      .def(
          "submit_batch_delete",
          [](PyAsyncStore& s, py::sequence keys) { return s.SubmitKeys(AsyncOp::kDelete, keys); },
          py::arg("keys"))
      .def("drain_completions", &PyAsyncStore::Drain)
      .def("stats", &PyAsyncStore::Stats)
      .def("close", &PyAsyncStore::Close);
}
