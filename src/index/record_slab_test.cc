#include "index/record_slab.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "index/block_record.h"

namespace kvstash {
namespace {

constexpr size_t kSlab = RecordSlab::kSlabBytes;

// The heap one slab occupies, as RecordSlab accounts it (usable size + chunk header).
uint64_t OneSlabHeapBytes() {
  void* p = std::malloc(kSlab);
  uint64_t n = malloc_usable_size(p) + sizeof(size_t);
  std::free(p);
  return n;
}

TEST(RecordSlabTest, SlotSizesRoundUpToEightBytes) {
  EXPECT_EQ(RecordSlab::SlotBytes(1), 8u);
  EXPECT_EQ(RecordSlab::SlotBytes(8), 8u);
  EXPECT_EQ(RecordSlab::SlotBytes(37), 40u);
  EXPECT_EQ(RecordSlab::SlotBytes(91), 96u);
  EXPECT_EQ(RecordSlab::SlotBytes(292), 296u);
  EXPECT_EQ(BlockRecord::SlotBytes(55), 96u) << "36-byte header + 55-byte key";
  EXPECT_EQ(BlockRecord::SlotBytes(kMaxKeyBytes), 296u);
}

TEST(RecordSlabTest, FreedSlotIsReusedByTheSameClassOnly) {
  RecordSlab slab;
  void* a = slab.Allocate(91);
  void* b = slab.Allocate(91);
  EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 96) << "slots are packed";
  slab.Free(a, 91);
  void* c = slab.Allocate(40);  // another class: must not get a's 96-byte slot
  EXPECT_NE(c, a);
  void* d = slab.Allocate(89);  // same class (96): gets the freed slot back
  EXPECT_EQ(d, a);
  EXPECT_EQ(slab.num_slabs(), 2u) << "one slab per class in use";
  slab.Free(b, 91);
  slab.Free(c, 40);
  slab.Free(d, 89);
  EXPECT_EQ(slab.live_slots(), 0u);
}

TEST(RecordSlabTest, SlotsAreAlignedAndDisjointAcrossSlabs) {
  RecordSlab slab;
  std::vector<void*> slots;
  constexpr size_t kBytes = 292;
  const size_t per_slab = kSlab / RecordSlab::SlotBytes(kBytes);
  for (size_t i = 0; i < 3 * per_slab + 1; ++i) {
    void* p = slab.Allocate(kBytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
    std::memset(p, static_cast<int>(i), kBytes);  // ASan: the whole request is writable
    slots.push_back(p);
  }
  EXPECT_EQ(slab.num_slabs(), 4u) << "a slab's tail smaller than a slot stays unused";
  std::set<uintptr_t> starts;
  for (void* p : slots) starts.insert(reinterpret_cast<uintptr_t>(p));
  uintptr_t prev_end = 0;
  for (uintptr_t s : starts) {
    EXPECT_GE(s, prev_end) << "slots overlap";
    prev_end = s + RecordSlab::SlotBytes(kBytes);
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char*>(slots[i])[kBytes - 1], static_cast<unsigned char>(i));
    slab.Free(slots[i], kBytes);
  }
}

TEST(RecordSlabTest, AccountingIsExact) {
  RecordSlab slab;
  EXPECT_EQ(slab.mapped_bytes(), 0u);
  void* a = slab.Allocate(37);
  void* b = slab.Allocate(100);
  EXPECT_EQ(slab.live_bytes(), 40u + 104u);
  EXPECT_EQ(slab.live_slots(), 2u);
  EXPECT_EQ(slab.mapped_bytes(), 2 * OneSlabHeapBytes());
  slab.Free(a, 37);
  EXPECT_EQ(slab.live_bytes(), 104u);
  EXPECT_EQ(slab.mapped_bytes(), 2 * OneSlabHeapBytes()) << "slabs are kept for reuse";
  slab.Free(b, 100);
  EXPECT_EQ(slab.live_bytes(), 0u);
  EXPECT_EQ(slab.live_slots(), 0u);
}

// Many random allocations and frees of random sizes, checked against a reference map of
// live slots: contents survive, live slots never overlap, the counters match, and freed
// slots are always reused first: each class maps exactly ceil(peak live slots / slots per
// slab) slabs.
TEST(RecordSlabTest, RandomAllocFreeMatchesReference) {
  RecordSlab slab;
  std::mt19937_64 rng(42);
  struct Live {
    size_t bytes;
    uint8_t fill;
  };
  std::map<uintptr_t, Live> live;  // start -> request
  uint64_t live_bytes = 0;
  std::vector<int64_t> class_live(RecordSlab::kNumClasses), class_peak(RecordSlab::kNumClasses);
  auto cls = [](size_t bytes) { return (bytes - 1) / 8; };
  auto free_one = [&] {
    auto it = live.begin();
    std::advance(it, rng() % live.size());
    auto* bytes = reinterpret_cast<uint8_t*>(it->first);
    for (size_t i = 0; i < it->second.bytes; ++i) ASSERT_EQ(bytes[i], it->second.fill);
    slab.Free(bytes, it->second.bytes);
    live_bytes -= RecordSlab::SlotBytes(it->second.bytes);
    --class_live[cls(it->second.bytes)];
    live.erase(it);
  };
  for (int round = 0; round < 200000; ++round) {
    // The live set grows for a while, then churns around ~5000 slots.
    bool grow = round < 15000 ? rng() % 3 != 0 : live.size() < 5000 && rng() % 2 == 0;
    if (grow || live.empty()) {
      size_t bytes = 1 + rng() % RecordSlab::kMaxSlotBytes;
      auto p = reinterpret_cast<uintptr_t>(slab.Allocate(bytes));
      ASSERT_EQ(p % 8, 0u);
      auto next = live.lower_bound(p);
      if (next != live.end()) {
        ASSERT_GE(next->first, p + RecordSlab::SlotBytes(bytes)) << "overlap";
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + RecordSlab::SlotBytes(prev->second.bytes), p) << "overlap";
      }
      auto fill = static_cast<uint8_t>(rng());
      std::memset(reinterpret_cast<void*>(p), fill, bytes);
      live[p] = {bytes, fill};
      live_bytes += RecordSlab::SlotBytes(bytes);
      size_t c = cls(bytes);
      class_peak[c] = std::max(class_peak[c], ++class_live[c]);
    } else {
      free_one();
      ASSERT_FALSE(HasFatalFailure());
    }
    ASSERT_EQ(slab.live_slots(), live.size());
    ASSERT_EQ(slab.live_bytes(), live_bytes);
  }
  EXPECT_GT(live.size(), 4000u);
  uint64_t expected_slabs = 0;
  for (size_t c = 0; c < RecordSlab::kNumClasses; ++c) {
    int64_t per_slab = kSlab / ((c + 1) * 8);
    expected_slabs += (class_peak[c] + per_slab - 1) / per_slab;
  }
  EXPECT_EQ(slab.num_slabs(), expected_slabs);
  EXPECT_EQ(slab.mapped_bytes(), expected_slabs * OneSlabHeapBytes());
  while (!live.empty()) {
    free_one();
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_EQ(slab.live_slots(), 0u);
  EXPECT_EQ(slab.live_bytes(), 0u);
}

TEST(RecordSlabTest, BlockRecordRoundTrip) {
  RecordSlab slab;
  std::string key(55, 'k');
  BlockRecord* r = BlockRecord::New(slab, 7, key, 4096);
  EXPECT_EQ(r->key(), key);
  EXPECT_EQ(r->ns, 7);
  EXPECT_EQ(r->size, 4096u);
  EXPECT_EQ(r->refs, 0);
  EXPECT_EQ(r->state(), BlockState::kAllocated);
  EXPECT_EQ(slab.live_bytes(), BlockRecord::SlotBytes(55));
  BlockRecord::Free(slab, r);
  BlockRecord* again = BlockRecord::New(slab, 7, std::string(60, 'x'), 1);  // 96 bytes too
  EXPECT_EQ(again, r);
  BlockRecord::Free(slab, again);
  EXPECT_EQ(slab.live_slots(), 0u);
}

#if defined(__SANITIZE_ADDRESS__)
TEST(RecordSlabDeathTest, UseAfterFreeIsReportedUnderAsan) {
  RecordSlab slab;
  auto* p = static_cast<volatile char*>(slab.Allocate(64));
  slab.Free(const_cast<char*>(p), 64);
  EXPECT_DEATH(p[16] = 1, "use-after-poison");
}
#endif

}  // namespace
}  // namespace kvstash
