// Device (GPU) memory helpers for the client: pointer classification, copies, pinned host
// buffers. Built with CUDA when CMake finds the toolkit (KVSTASH_HAVE_CUDA); otherwise every
// pointer is host memory and device copies report Unavailable.
//
// Thread safety: all functions are safe to call concurrently.
#ifndef KVSTASH_NET_DEVICE_MEMORY_H_
#define KVSTASH_NET_DEVICE_MEMORY_H_

#include <cstddef>
#include <memory>

#include "kvstash/status.h"

namespace kvstash::net {

enum class MemoryKind { kHost, kDevice };

// True when this build links the CUDA runtime.
bool CudaBuild();
// kDevice for a CUDA device (or managed) pointer; kHost otherwise, including when no GPU or
// driver is present.
MemoryKind ClassifyPointer(const void* p);
// Synchronous copies (cudaMemcpyAsync on a private stream + synchronize).
Status CopyDeviceToHost(void* dst, const void* src, size_t n);
Status CopyHostToDevice(void* dst, const void* src, size_t n);

// Host memory for staging: page-locked (cudaHostAlloc) when a GPU is usable, so that device
// copies run at full speed; 4 KiB-aligned ordinary memory otherwise.
struct HostBufferDeleter {
  bool pinned = false;
  void operator()(std::byte* p) const;
};
using HostBuffer = std::unique_ptr<std::byte[], HostBufferDeleter>;
HostBuffer AllocateHostBuffer(size_t size);

}  // namespace kvstash::net

#endif  // KVSTASH_NET_DEVICE_MEMORY_H_
