// kvstash-region-bench: the region store against the physical limit, on the same file.
//
//   kvstash-region-bench [--path FILE] [--size-mib N] [--seconds S] [--reps N]
//
// 1. Raw limits (io_probe.h, its own io_uring ring, O_DIRECT): sequential writes of the
//    store's write I/O size at the store's flush depth, and random reads of 128 KiB and 1 MiB
//    at QD 1, 8, 32.
// 2. The store on a UringDevice over the same file: Append until the file is ~90% full and
//    Flush (region flush bandwidth = device bytes written / time, appends included), then
//    flash-hit reads of random entries (XXH3 verified), read straight into page-aligned
//    destinations as the server's registered bounce arena is, two ways:
//    ReadV batches of QD reads (a batch completes together, so the queue drains between
//    batches) and QD threads each keeping one Read in flight (closed loop, like the probe).
// Every read point is measured --reps times (default 3), raw and store runs interleaved, and
// the medians are printed with their ratio: a virtio disk backed by a host cache moves by tens
// of percent from one second to the next, so a single raw/store pair is mostly that noise.
// Every figure is printed with its raw counterpart and the ratio. The store is created with
// discard_on_create=false so both runs see the same allocated file blocks.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/checksum.h"
#include "common/clock.h"
#include "flash/io_probe.h"
#include "flash/region_store.h"
#include "flash/uring_device.h"

namespace kvstash {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint32_t kQueueDepth = 32;    // UringDevice queue depth = region flush depth
constexpr uint32_t kWriteIo = 1 << 20;  // RegionStoreOptions::write_io_bytes

struct Args {
  std::string path = "/var/tmp/kvstash-region-bench.dat";
  uint64_t size = 1024 * kMiB;
  double seconds = 1.0;
  int reps = 3;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--path") a.path = argv[i + 1];
    if (k == "--size-mib") a.size = std::strtoull(argv[i + 1], nullptr, 10) * kMiB;
    if (k == "--seconds") a.seconds = std::strtod(argv[i + 1], nullptr);
    if (k == "--reps") a.reps = std::max(1, std::atoi(argv[i + 1]));
  }
  return a;
}

double Now() { return Clock::Real()->NowNanos() / 1e9; }
double GiBps(double bytes, double secs) { return secs > 0 ? bytes / secs / (1ull << 30) : 0; }

Result<double> RawBandwidth(const Args& a, IoPattern pattern, uint32_t block, uint32_t qd) {
  IoProbeOptions o;
  o.path = a.path;
  o.bytes = a.size;
  o.block_bytes = block;
  o.queue_depth = qd;
  o.pattern = pattern;
  o.seconds = a.seconds;
  KVSTASH_ASSIGN_OR_RETURN(IoProbeResult r, ProbeIo(o));
  return r.bytes_per_sec();
}

Result<std::unique_ptr<RegionStore>> OpenStore(const Args& a, std::unique_ptr<Device>* dev) {
  UringDeviceOptions uo;
  uo.path = a.path;
  uo.size = a.size;
  uo.queue_depth = kQueueDepth;
  KVSTASH_ASSIGN_OR_RETURN(*dev, UringDevice::Open(uo));
  RegionStoreOptions o;  // 64 MiB regions, 2 write buffers, background flush
  o.write_io_bytes = kWriteIo;
  o.discard_on_create = false;
  o.auto_reclaim = false;
  return RegionStore::Create(o, dev->get());
}

struct Entry {
  std::string key;
  FlashLocation loc;
};

// Fills ~90% of the store with `block`-sized values; prints flush bandwidth vs raw.
Result<std::vector<Entry>> FillAndReport(const Args& a, RegionStore& store, Device& dev,
                                         uint32_t block, double raw_write) {
  std::vector<std::byte> value(block);
  std::mt19937_64 rng(block);
  for (auto& b : value) b = std::byte(rng() & 0xff);
  const Checksum sum = ComputeChecksum(value);
  std::vector<Entry> entries;
  const uint64_t before = dev.stats().write_bytes;
  const uint64_t target = store.num_regions() * store.region_bytes() * 9 / 10;
  double t0 = Now();
  for (int i = 0; uint64_t(i) * block < target; ++i) {
    std::string key = "bench@" + std::to_string(block) + "@" + std::to_string(i);
    KVSTASH_ASSIGN_OR_RETURN(FlashLocation loc, store.Append(0, key, value, sum));
    entries.push_back(Entry{std::move(key), loc});
  }
  KVSTASH_RETURN_IF_ERROR(store.Flush());
  double secs = Now() - t0;
  const uint64_t written = dev.stats().write_bytes - before;
  RegionStoreStats st = store.stats();
  std::printf(
      "write  value=%7u B  store flush %6.2f GiB/s (%llu MiB in %.2fs, host WA %.4f)"
      "  raw seqwrite %u KiB QD%u %6.2f GiB/s  ratio %.2f\n",
      block, GiBps(written, secs), (unsigned long long)(written / kMiB), secs,
      st.host_write_amplification(), kWriteIo >> 10, kQueueDepth, raw_write / (1ull << 30),
      GiBps(written, secs) * (1ull << 30) / raw_write);
  return entries;
}

// Random flash-hit reads in ReadV batches of `qd` for about a.seconds; value bytes per second.
Result<double> StoreReads(const Args& a, RegionStore& store, const std::vector<Entry>& entries,
                          uint32_t block, uint32_t qd) {
  std::vector<AlignedBuffer> dest;
  for (uint32_t i = 0; i < qd; ++i) {
    KVSTASH_ASSIGN_OR_RETURN(AlignedBuffer b, AlignedBuffer::Create(block));
    dest.push_back(std::move(b));
  }
  std::vector<FlashRead> reads(qd);
  std::mt19937_64 rng(qd);
  uint64_t bytes = 0;
  double t0 = Now(), t = t0;
  while (t - t0 < a.seconds) {
    for (uint32_t i = 0; i < qd; ++i) {
      const Entry& e = entries[rng() % entries.size()];
      reads[i] = FlashRead{e.loc, 0, e.key, dest[i].span(), Status::Ok()};
    }
    KVSTASH_RETURN_IF_ERROR(store.ReadV(reads));
    bytes += uint64_t(qd) * block;
    t = Now();
  }
  return bytes / (t - t0);
}

// The same with `qd` threads each keeping one Read in flight (closed loop, as the raw probe):
// what a server with qd worker threads, one ring each, would see.
Result<double> StoreReadsThreaded(const Args& a, RegionStore& store,
                                  const std::vector<Entry>& entries, uint32_t block, uint32_t qd) {
  std::vector<uint64_t> bytes(qd, 0);
  std::vector<Status> errors(qd);
  std::vector<std::thread> threads;
  double t0 = Now();
  for (uint32_t t = 0; t < qd; ++t) {
    threads.emplace_back([&, t] {
      Result<AlignedBuffer> dest = AlignedBuffer::Create(block);
      if (!dest.ok()) {
        errors[t] = dest.status();
        return;
      }
      std::mt19937_64 rng(t + 100);
      while (Now() - t0 < a.seconds && errors[t].ok()) {
        const Entry& e = entries[rng() % entries.size()];
        errors[t] = store.Read(e.loc, 0, e.key, dest->span());
        bytes[t] += block;
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = Now() - t0;
  uint64_t total = 0;
  for (uint32_t t = 0; t < qd; ++t) {
    KVSTASH_RETURN_IF_ERROR(errors[t]);
    total += bytes[t];
  }
  return total / secs;
}

Status Run(const Args& a) {
  KVSTASH_RETURN_IF_ERROR(PrepareProbeFile(a.path, a.size));
  KVSTASH_ASSIGN_OR_RETURN(ProbeTarget target, DescribeProbeTarget(a.path));
  std::printf(
      "conditions: path=%s fs=%s source=%s size=%llu MiB block_device=%d "
      "region=64 MiB write_io=%u KiB device_qd=%u O_DIRECT io_uring, %.1fs per point, "
      "read points: median of %d interleaved raw/store repetitions\n",
      a.path.c_str(), target.filesystem.c_str(), target.mount_source.c_str(),
      (unsigned long long)(a.size / kMiB), target.is_block_device, kWriteIo >> 10, kQueueDepth,
      a.seconds, a.reps);
  KVSTASH_ASSIGN_OR_RETURN(double raw_write,
                           RawBandwidth(a, IoPattern::kSequentialWrite, kWriteIo, kQueueDepth));
  for (uint32_t block : {128u << 10, 1u << 20}) {
    std::unique_ptr<Device> dev;
    KVSTASH_ASSIGN_OR_RETURN(auto store, OpenStore(a, &dev));
    KVSTASH_ASSIGN_OR_RETURN(auto entries, FillAndReport(a, *store, *dev, block, raw_write));
    for (uint32_t qd : {1u, 8u, 32u}) {
      std::vector<double> raws, batches, threads;
      for (int rep = 0; rep < a.reps; ++rep) {
        KVSTASH_ASSIGN_OR_RETURN(double r, RawBandwidth(a, IoPattern::kRandomRead, block, qd));
        KVSTASH_ASSIGN_OR_RETURN(double b, StoreReads(a, *store, entries, block, qd));
        KVSTASH_ASSIGN_OR_RETURN(double t, StoreReadsThreaded(a, *store, entries, block, qd));
        raws.push_back(r);
        batches.push_back(b);
        threads.push_back(t);
      }
      const double raw = Median(raws), batch = Median(batches), threaded = Median(threads);
      std::printf(
          "read   value=%7u B  QD%-2u store ReadV-batch %5.2f GiB/s (ratio %.2f)  "
          "%2u threads x Read %5.2f GiB/s (ratio %.2f)  raw randread %5.2f GiB/s\n",
          block, qd, batch / (1ull << 30), batch / raw, qd, threaded / (1ull << 30), threaded / raw,
          raw / (1ull << 30));
    }
    RegionStoreStats st = store->stats();
    std::printf(
        "       checksum_failures=%llu read_io_errors=%llu device_read_bytes/read_bytes"
        "=%.4f\n",
        (unsigned long long)st.checksum_failures, (unsigned long long)st.read_io_errors,
        st.read_bytes ? double(st.device_read_bytes) / st.read_bytes : 0.0);
  }
  return Status::Ok();
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  kvstash::Args args = kvstash::ParseArgs(argc, argv);
  kvstash::Status s = kvstash::Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "kvstash-region-bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::remove(args.path.c_str());
  return 0;
}
