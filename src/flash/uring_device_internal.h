// Private to uring_device.cc and uring_batch.cc: the pooled ring and the per-call batch state.
#ifndef KVSTASH_FLASH_URING_DEVICE_INTERNAL_H_
#define KVSTASH_FLASH_URING_DEVICE_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "flash/uring_device.h"
#include "flash/uring_ring.h"

namespace kvstash {

// A ring of the pool, with the RNG of kernel-level fault injection (one per ring, so a ring's
// sequence of injected faults is deterministic for its user).
struct UringDevice::PooledRing {
  std::unique_ptr<UringRing> ring;
  std::mt19937_64 rng;
};

// The state of one ReadV/WriteV call on one ring. Only one SQE per request is in flight at a
// time, so a completion's user_data (the request index) identifies it, and done[i] gives the
// offset of the next resubmission.
struct UringDevice::Batch {
  Batch(std::span<IoRequest> r, bool w)
      : requests(r), write(w), done(r.size(), 0), retries(r.size(), 0), finished(r.size(), false) {}

  std::span<IoRequest> requests;
  const bool write;
  std::vector<uint64_t> done;     // bytes completed per request
  std::vector<uint32_t> retries;  // -EAGAIN/-EINTR retries per request
  std::vector<bool> finished;     // result set for good (success or failure)
  std::deque<uint32_t> pending;   // requests (or remainders) waiting for an SQE
  uint32_t in_flight = 0;         // SQEs queued or submitted whose completion is not reaped
  Status fatal;                   // a ring-level failure: the batch stops, the ring is dropped
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_URING_DEVICE_INTERNAL_H_
