// FaultInjectionDevice: wraps another Device and injects seeded, deterministic faults, so the
// layers above (region store, engine) can be tested against EIO, short and torn writes, silent
// bit flips, latency and a full device, then made healthy again to test recovery.
//
// Every fault is "1 in N" per request (0 = never, 1 = always), drawn from one
// std::mt19937_64 seeded by `seed`: the same seed and the same sequence of calls inject the
// same faults. (With several threads the interleaving, hence the sequence, may differ.)
//
// Short I/O: the Device contract is all-or-error (a short transfer never surfaces through the
// interface), so an injected short read/write transfers an aligned prefix through the inner
// device and then fails the request with IOError ("short write: N of M bytes"), which is what
// a caller of a Device sees when the kernel keeps returning short. The io_uring resubmission
// path below the interface is exercised by UringDeviceOptions::inject instead (it shortens
// real submissions, so the kernel itself completes short).
//
// Torn write: an aligned prefix (possibly empty) of the data reaches the inner device; the
// request then fails with IOError, or, with torn_write_silent, reports success (a lost tail,
// as after a power cut under a volatile cache). Bit flips corrupt successfully read data and
// report success: only a checksum can catch them.
//
// Thread safety: all methods may be called concurrently. Options and the RNG are guarded by a
// mutex held only while drawing decisions, never across inner I/O or injected latency.
#ifndef KVSTASH_FLASH_FAULT_DEVICE_H_
#define KVSTASH_FLASH_FAULT_DEVICE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "flash/device.h"
#include "kvstash/status.h"

namespace kvstash {

struct FaultInjectionOptions {
  uint64_t seed = 1;
  // Errors (IOError, as EIO): the request fails and nothing reaches the inner device.
  uint32_t read_error_one_in = 0;
  uint32_t write_error_one_in = 0;
  uint32_t discard_error_one_in = 0;
  // Short transfers, surfaced as IOError after a partial transfer (see the file comment).
  uint32_t short_read_one_in = 0;
  uint32_t short_write_one_in = 0;
  // Silent corruption of read data: `bit_flips` random bits of the request flipped.
  uint32_t bit_flip_one_in = 0;
  uint32_t bit_flips = 1;
  // Torn writes: only an aligned prefix is written.
  uint32_t torn_write_one_in = 0;
  bool torn_write_silent = false;  // true: report success; false: IOError
  // Latency added before an operation (reads, writes and discards alike).
  uint32_t latency_one_in = 0;
  std::chrono::microseconds latency{0};
  // Device full: a write reaching beyond this byte offset fails with ResourceExhausted
  // (ENOSPC) and writes nothing. UINT64_MAX = never full.
  uint64_t full_beyond_offset = UINT64_MAX;
};

// How many faults of each kind were injected.
struct FaultCounts {
  uint64_t read_errors = 0, write_errors = 0, discard_errors = 0;
  uint64_t short_reads = 0, short_writes = 0;
  uint64_t bit_flips = 0;  // requests corrupted (not bits)
  uint64_t torn_writes = 0;
  uint64_t latency_injections = 0;
  uint64_t no_space_errors = 0;
  uint64_t total() const;
};

class FaultInjectionDevice final : public Device {
 public:
  // Wraps `inner`, which must outlive this device (not owned).
  FaultInjectionDevice(Device* inner, const FaultInjectionOptions& options);
  // Wraps and owns `inner` (non-null).
  FaultInjectionDevice(std::unique_ptr<Device> inner, const FaultInjectionOptions& options);

  // Replaces the fault configuration; the RNG is reseeded from options.seed.
  void SetOptions(const FaultInjectionOptions& options);
  // true: healthy, no faults are injected at all (pass-through), whatever the options say;
  // false re-enables them. For recovery tests: break the device, then heal it.
  void SetHealthy(bool healthy);
  bool healthy() const;
  FaultCounts counts() const;
  Device* inner() const { return inner_; }

 private:
  enum class Fault { kNone, kError, kShort, kTorn, kNoSpace };
  struct Plan {
    Fault fault = Fault::kNone;
    uint64_t prefix = 0;  // bytes that do reach the inner device for kShort/kTorn
    bool silent = false;  // kTorn: report success
    uint32_t flips = 0;   // reads: bits to flip after a successful read
    uint64_t flip_seed = 0;
    std::chrono::microseconds delay{0};
  };

  Status ReadVImpl(std::span<IoRequest> requests) override;
  Status WriteVImpl(std::span<IoRequest> requests) override;
  Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) override;

  bool Roll(uint32_t one_in) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t AlignedPrefix(uint64_t len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Plan PlanRead(const IoRequest& r) ABSL_LOCKS_EXCLUDED(mu_);
  Plan PlanWrite(const IoRequest& r) ABSL_LOCKS_EXCLUDED(mu_);
  Status DoPartial(const IoRequest& r, const Plan& plan, bool write);
  static void FlipBits(std::span<std::byte> data, uint32_t flips, uint64_t seed);

  std::unique_ptr<Device> owned_;  // set when constructed with ownership
  Device* const inner_;

  mutable Mutex mu_;
  FaultInjectionOptions options_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  bool injecting_ ABSL_GUARDED_BY(mu_) = true;  // false after SetHealthy(true)
  FaultCounts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_FAULT_DEVICE_H_
