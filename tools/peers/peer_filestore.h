// The file-per-block directory store: one file per key under a directory, the way LMCache's
// local-disk backend and NIXL's POSIX plugin keep KV blocks on a local filesystem. The peer
// kvstash's flash tier is compared with.
//
// Put: open(O_CREAT|O_TRUNC|O_DIRECT) + pwrite + close per block (buffered I/O when the block
// size is not a multiple of 4 KiB; `fdatasync` adds a sync per file, off by default as
// LMCache does not sync). Get: open(O_DIRECT) + pread + close per block, so the page cache is
// bypassed and every get reaches the device, like kvstash's O_DIRECT flash reads. A call of n
// blocks is spread over a pool of `queue_depth` threads (QD = queue_depth), each with its own
// file, so up to queue_depth reads are in flight.
//
// Thread safety: driven from one thread (PeerStore contract); the pool is internal.
#ifndef KVSTASH_TOOLS_PEER_FILESTORE_H_
#define KVSTASH_TOOLS_PEER_FILESTORE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tools/peers/peer_workload.h"

namespace kvstash {

struct FileStoreOptions {
  std::string dir;           // created if missing; must be on the filesystem under test
  uint32_t queue_depth = 8;  // worker threads = I/O requests in flight
  bool fdatasync = false;    // sync each file after writing it
};

class FileStorePeer : public PeerStore {
 public:
  // Errors: IOError (cannot create `dir`), InvalidArgument (queue_depth 0).
  static Result<std::unique_ptr<FileStorePeer>> Create(const FileStoreOptions& options);
  ~FileStorePeer() override;

  Status Prepare(const BlockSet& set) override;
  Status PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) override;
  Status GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) override;
  Status Clear(const BlockSet& set) override;
  Result<std::byte*> DestBuffer(uint64_t bytes) override;
  std::string Note() override;

 private:
  explicit FileStorePeer(FileStoreOptions options) : options_(std::move(options)) {}
  // Runs job(0..n-1) on the pool and waits; returns the first error.
  Status RunParallel(size_t n, const std::function<Status(size_t)>& job);
  void WorkerLoop();
  std::string PathOf(const BlockSet& set, uint32_t id) const;

  FileStoreOptions options_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<Status(size_t)>* job_ = nullptr;  // guarded by mu_
  size_t next_ = 0, total_ = 0, finished_ = 0;          // guarded by mu_
  uint64_t generation_ = 0;                             // guarded by mu_
  Status first_error_;                                  // guarded by mu_
  bool stop_ = false;                                   // guarded by mu_
  bool direct_io_ = true;
  std::byte* dest_ = nullptr;
  uint64_t dest_bytes_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_FILESTORE_H_
