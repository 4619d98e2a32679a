// Turning Python objects into (address, size) ranges for the client.
//
// A "buffer" argument of kvstash_client is one of, tried in this order:
//   * an int: a raw address, given together with a size (Mooncake's convention);
//   * an object with the buffer protocol (bytes, bytearray, memoryview, numpy arrays), C
//     contiguous; writable where the call writes into it;
//   * an object with __cuda_array_interface__ (CuPy, Numba, torch CUDA tensors), contiguous;
//   * an object with __dlpack__ (torch, JAX, numpy, CuPy), compact row-major.
// Device memory needs no special handling here: the client classifies every pointer itself
// and takes its CUDA path where it was built with CUDA (kvstash::Client::cuda_support()).
//
// A MemoryView keeps what it was resolved from alive (the Py_buffer export, the DLPack
// capsule, the object) until it is destroyed, which must happen with the GIL held.
#ifndef KVSTASH_PYTHON_PY_MEMORY_H_
#define KVSTASH_PYTHON_PY_MEMORY_H_

#include <pybind11/pybind11.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>

#include "kvstash/status.h"

namespace kvstash::python {

namespace py = pybind11;

// A resolved range and the Python references that keep it valid. Move-only.
class MemoryView {
 public:
  MemoryView() = default;
  MemoryView(MemoryView&&) noexcept = default;
  MemoryView& operator=(MemoryView&&) noexcept = default;
  ~MemoryView() = default;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<std::byte> span() const { return {data_, size_}; }

  // Resolves `obj`. `size`: required with an int address; with an object it may shrink the
  // range (never grow it). `writable`: the call writes into the range (read-only exports
  // such as bytes are refused). Errors: InvalidArgument naming what is wrong. GIL held.
  static Result<MemoryView> Resolve(py::handle obj, std::optional<size_t> size, bool writable);

 private:
  static Result<MemoryView> ResolveOrThrow(py::handle obj, std::optional<size_t> size,
                                           bool writable);
  struct PyBufferExport;  // a Py_buffer released on destruction
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<PyBufferExport> export_;
  py::object keep_;  // the capsule or object the range belongs to
};

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_PY_MEMORY_H_
