#include "py_memory.h"

#include <dlpack/dlpack.h>
#include <fmt/format.h>
#include <pybind11/stl.h>

#include <string>

namespace kvstash::python {

struct MemoryView::PyBufferExport {
  Py_buffer view{};
  ~PyBufferExport() { PyBuffer_Release(&view); }
};

namespace {

Status Invalid(std::string what) { return Status::InvalidArgument(std::move(what)); }

// Applies the optional caller size to a range of `available` bytes.
Result<size_t> Clip(size_t available, std::optional<size_t> size) {
  if (!size) return available;
  if (*size > available) {
    return Invalid(fmt::format("size {} exceeds the buffer's {} bytes", *size, available));
  }
  return *size;
}

// Bytes of a dense row-major array of `shape` with items of `itemsize`; nullopt when the
// strides (in items, or bytes when `strides_in_bytes`) are not those of a compact layout.
std::optional<size_t> CompactBytes(const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>* strides, size_t itemsize,
                                   bool strides_in_bytes) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    n *= static_cast<size_t>(d);
  }
  if (strides != nullptr && n > 1) {
    int64_t expect = strides_in_bytes ? static_cast<int64_t>(itemsize) : 1;
    for (size_t i = shape.size(); i-- > 0;) {
      if (shape[i] != 1 && (*strides)[i] != expect) return std::nullopt;
      expect *= shape[i];
    }
  }
  return n * itemsize;
}

Result<size_t> CudaInterfaceItemSize(const std::string& typestr) {
  // "<f4", "|u1", ...: the digits after the kind character are the item size.
  if (typestr.size() < 3) return Invalid("bad __cuda_array_interface__ typestr " + typestr);
  try {
    return static_cast<size_t>(std::stoul(typestr.substr(2)));
  } catch (const std::exception&) {
    return Invalid("bad __cuda_array_interface__ typestr " + typestr);
  }
}

}  // namespace

Result<MemoryView> MemoryView::Resolve(py::handle obj, std::optional<size_t> size, bool writable) {
  try {
    return ResolveOrThrow(obj, size, writable);
  } catch (const py::error_already_set& e) {
    // A producer that refuses an export (a tensor that needs grad, a malformed interface)
    // is a bad argument of this call, not an exception for the engine's cache thread.
    return Invalid(std::string("cannot take the buffer: ") + e.what());
  } catch (const py::cast_error& e) {
    return Invalid(std::string("malformed array interface: ") + e.what());
  }
}

Result<MemoryView> MemoryView::ResolveOrThrow(py::handle obj, std::optional<size_t> size,
                                              bool writable) {
  MemoryView m;
  if (PyLong_Check(obj.ptr())) {
    if (!size) return Invalid("an address given as an int needs a size");
    uintptr_t address = PyLong_AsUnsignedLongLong(obj.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      return Invalid("address is not a non-negative 64-bit int");
    }
    if (address == 0) return Invalid("null address");
    m.data_ = reinterpret_cast<std::byte*>(address);
    m.size_ = *size;
    return m;
  }
  if (PyObject_CheckBuffer(obj.ptr())) {
    auto exp = std::make_shared<PyBufferExport>();
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj.ptr(), &exp->view, flags) != 0) {
      PyErr_Clear();
      // Release() must not run on a view that was never filled.
      exp->view.obj = nullptr;
      exp->view.buf = nullptr;
      return Invalid(writable ? "buffer is not writable and C-contiguous"
                              : "buffer is not C-contiguous");
    }
    KVSTASH_ASSIGN_OR_RETURN(m.size_, Clip(static_cast<size_t>(exp->view.len), size));
    m.data_ = static_cast<std::byte*>(exp->view.buf);
    m.export_ = std::move(exp);
    return m;
  }
  if (py::hasattr(obj, "__cuda_array_interface__")) {
    py::dict cai = obj.attr("__cuda_array_interface__");
    py::tuple data = cai["data"];
    if (writable && data[1].cast<bool>()) return Invalid("device array is read-only");
    auto shape = cai["shape"].cast<std::vector<int64_t>>();
    std::optional<std::vector<int64_t>> strides;
    if (cai.contains("strides") && !cai["strides"].is_none()) {
      strides = cai["strides"].cast<std::vector<int64_t>>();
    }
    KVSTASH_ASSIGN_OR_RETURN(size_t itemsize,
                             CudaInterfaceItemSize(cai["typestr"].cast<std::string>()));
    auto bytes = CompactBytes(shape, strides ? &*strides : nullptr, itemsize, true);
    if (!bytes) return Invalid("device array is not contiguous");
    KVSTASH_ASSIGN_OR_RETURN(m.size_, Clip(*bytes, size));
    m.data_ = reinterpret_cast<std::byte*>(data[0].cast<uintptr_t>());
    m.keep_ = py::reinterpret_borrow<py::object>(obj);
    return m;
  }
  if (py::hasattr(obj, "__dlpack__")) {
    py::object capsule = obj.attr("__dlpack__")();
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
    if (managed == nullptr) {
      PyErr_Clear();
      return Invalid("__dlpack__ did not return a DLPack tensor capsule");
    }
    const DLTensor& t = managed->dl_tensor;
    size_t itemsize = (static_cast<size_t>(t.dtype.bits) * t.dtype.lanes + 7) / 8;
    std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
    std::optional<std::vector<int64_t>> strides;
    if (t.strides != nullptr) strides.emplace(t.strides, t.strides + t.ndim);
    auto bytes = CompactBytes(shape, strides ? &*strides : nullptr, itemsize, false);
    if (!bytes) return Invalid("DLPack tensor is not contiguous");
    KVSTASH_ASSIGN_OR_RETURN(m.size_, Clip(*bytes, size));
    m.data_ = static_cast<std::byte*>(t.data) + t.byte_offset;
    // The capsule, not consumed, owns a reference to the tensor until it is collected.
    m.keep_ = std::move(capsule);
    return m;
  }
  return Invalid(
      fmt::format("{} has neither the buffer protocol, __cuda_array_interface__ "
                  "nor __dlpack__, and is not an int address",
                  std::string(py::str(py::type::handle_of(obj).attr("__name__")))));
}

}  // namespace kvstash::python
