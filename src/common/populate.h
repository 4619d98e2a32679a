// PopulateWrite: fault in every page of a range for writing without changing a byte, so that
// the data path never takes a first-touch page fault (arenas, mapped shared segments).
#ifndef KVSTASH_COMMON_POPULATE_H_
#define KVSTASH_COMMON_POPULATE_H_

#include <cstddef>

namespace kvstash {

// MADV_POPULATE_WRITE (Linux 5.14) where the kernel has it; otherwise reads and writes back one
// byte per 4 KiB page. Respects earlier madvise advice (transparent huge pages).
void PopulateWrite(std::byte* p, size_t length);

}  // namespace kvstash

#endif  // KVSTASH_COMMON_POPULATE_H_
