#include "net/client/device_memory.h"

#include <cstdlib>
#include <new>

#if KVSTASH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kvstash::net {

#if KVSTASH_HAVE_CUDA

namespace {

Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return Status::IOError(std::string(what) + ": " + cudaGetErrorString(e));
}

Status Copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  cudaStream_t stream = nullptr;
  KVSTASH_RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  Status s = CudaStatus(cudaMemcpyAsync(dst, src, n, kind, stream), "cudaMemcpyAsync");
  if (s.ok()) s = CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  (void)cudaStreamDestroy(stream);
  return s;
}

}  // namespace

bool CudaBuild() { return true; }

// Asked once: without a driver or a GPU no pointer can be device memory, and the per-call
// query (which would fail every time) stays off the data path.
bool CudaUsable() {
  static const bool usable = [] {
    int n = 0;
    bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    (void)cudaGetLastError();
    return ok;
  }();
  return usable;
}

MemoryKind ClassifyPointer(const void* p) {
  if (!CudaUsable()) return MemoryKind::kHost;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "not a device pointer"/"no driver" error
    return MemoryKind::kHost;
  }
  return (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged)
             ? MemoryKind::kDevice
             : MemoryKind::kHost;
}

Status CopyDeviceToHost(void* dst, const void* src, size_t n) {
  return Copy(dst, src, n, cudaMemcpyDeviceToHost);
}

Status CopyHostToDevice(void* dst, const void* src, size_t n) {
  return Copy(dst, src, n, cudaMemcpyHostToDevice);
}

void HostBufferDeleter::operator()(std::byte* p) const {
  if (pinned) {
    (void)cudaFreeHost(p);
  } else {
    std::free(p);
  }
}

HostBuffer AllocateHostBuffer(size_t size) {
  void* p = nullptr;
  if (CudaUsable() && cudaHostAlloc(&p, size, cudaHostAllocPortable) == cudaSuccess) {
    return HostBuffer(static_cast<std::byte*>(p), HostBufferDeleter{true});
  }
  (void)cudaGetLastError();
  size_t rounded = (size + 4095) & ~size_t{4095};
  return HostBuffer(static_cast<std::byte*>(std::aligned_alloc(4096, rounded)),
                    HostBufferDeleter{false});
}

#else  // host-only build

bool CudaBuild() { return false; }
MemoryKind ClassifyPointer(const void*) { return MemoryKind::kHost; }
Status CopyDeviceToHost(void*, const void*, size_t) {
  return Status::Unavailable("built without CUDA");
}
Status CopyHostToDevice(void*, const void*, size_t) {
  return Status::Unavailable("built without CUDA");
}
void HostBufferDeleter::operator()(std::byte* p) const { std::free(p); }
HostBuffer AllocateHostBuffer(size_t size) {
  size_t rounded = (size + 4095) & ~size_t{4095};
  return HostBuffer(static_cast<std::byte*>(std::aligned_alloc(4096, rounded)),
                    HostBufferDeleter{false});
}

#endif

}  // namespace kvstash::net
