#include "common/populate.h"

#include <sys/mman.h>

#include <cstdint>

namespace kvstash {

void PopulateWrite(std::byte* p, size_t length) {
  constexpr size_t kPage = 4096;
#ifdef MADV_POPULATE_WRITE
  auto start = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  auto end = (reinterpret_cast<uintptr_t>(p) + length + kPage - 1) & ~(kPage - 1);
  if (madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE) == 0) return;
#endif
  for (size_t off = 0; off < length; off += kPage) {
    auto* b = reinterpret_cast<volatile std::byte*>(p + off);
    *b = *b;
  }
}

}  // namespace kvstash
