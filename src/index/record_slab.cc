#include "index/record_slab.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

#include "common/logging.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KVSTASH_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define KVSTASH_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define KVSTASH_POISON(p, n) ((void)(p), (void)(n))
#define KVSTASH_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kvstash {

static_assert(RecordSlab::kMaxSlotBytes % RecordSlab::kGranularity == 0);
static_assert(RecordSlab::kSlabBytes >= 16 * RecordSlab::kMaxSlotBytes,
              "a slab holds many slots of the largest class");
static_assert(alignof(std::max_align_t) % RecordSlab::kGranularity == 0,
              "malloc'ed slabs keep slots 8-byte aligned");

RecordSlab::~RecordSlab() {
  if (live_slots_ != 0) {
    // A record is still referenced somewhere: freeing its slab would leave it dangling.
    spdlog::error("RecordSlab destroyed with {} live slots; leaking {} slabs", live_slots_,
                  slabs_.size());
    return;
  }
  for (void* s : slabs_) {
    KVSTASH_UNPOISON(s, kSlabBytes);
    std::free(s);
  }
}

void RecordSlab::NewSlab(Class& c) {
  void* s = std::malloc(kSlabBytes);
  if (s == nullptr) throw std::bad_alloc();
  slabs_.push_back(s);
  // The heap bytes the slab really occupies: usable size plus glibc's 8-byte chunk header.
  mapped_bytes_ += malloc_usable_size(s) + sizeof(size_t);
  KVSTASH_POISON(s, kSlabBytes);
  c.bump = static_cast<char*>(s);
  c.bump_end = c.bump + kSlabBytes;
}

void* RecordSlab::Allocate(size_t bytes) {
  const size_t slot = SlotBytes(bytes);
  if (!classes_) classes_ = std::make_unique<Class[]>(kNumClasses);
  Class& c = classes_[ClassIndex(bytes)];
  void* p;
  if (c.free != nullptr) {
    FreeSlot* f = c.free;
    KVSTASH_UNPOISON(f, sizeof(FreeSlot));
    c.free = f->next;
    p = f;
  } else {
    // The slab's tail smaller than one slot stays unused (counted in mapped_bytes).
    if (c.bump == nullptr || static_cast<size_t>(c.bump_end - c.bump) < slot) NewSlab(c);
    p = c.bump;
    c.bump += slot;
  }
  KVSTASH_UNPOISON(p, slot);
  live_bytes_ += slot;
  ++live_slots_;
  return p;
}

void RecordSlab::Free(void* p, size_t bytes) {
  const size_t slot = SlotBytes(bytes);
  Class& c = classes_[ClassIndex(bytes)];
  auto* f = static_cast<FreeSlot*>(p);
  f->next = c.free;
  c.free = f;
  KVSTASH_POISON(p, slot);
  live_bytes_ -= slot;
  --live_slots_;
}

}  // namespace kvstash
