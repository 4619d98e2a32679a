#include "tools/peers/peer_filestore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kvstash {
namespace {

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// Full-length pwrite/pread: short transfers are resumed, EINTR retried.
template <typename Op>
Status Transfer(int fd, std::byte* p, uint64_t bytes, Op op, const std::string& path) {
  uint64_t done = 0;
  while (done < bytes) {
    ssize_t n = op(fd, p + done, bytes - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(path);
    if (n == 0) return Status::IOError(path + ": unexpected end of file");
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FileStorePeer>> FileStorePeer::Create(const FileStoreOptions& options) {
  if (options.queue_depth == 0) return Status::InvalidArgument("queue_depth must be >= 1");
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Status::IOError("create " + options.dir + ": " + ec.message());
  std::unique_ptr<FileStorePeer> p(new FileStorePeer(options));
  for (uint32_t i = 0; i < options.queue_depth; ++i) {
    p->workers_.emplace_back([raw = p.get()] { raw->WorkerLoop(); });
  }
  return p;
}

FileStorePeer::~FileStorePeer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  FreeAligned(dest_);
}

void FileStorePeer::WorkerLoop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    work_cv_.wait(l, [&] { return stop_ || (generation_ != seen && next_ < total_); });
    if (stop_) return;
    while (next_ < total_) {
      size_t i = next_++;
      const std::function<Status(size_t)>* job = job_;
      l.unlock();
      Status s = (*job)(i);
      l.lock();
      if (!s.ok() && first_error_.ok()) first_error_ = s;
      if (++finished_ == total_) done_cv_.notify_all();
    }
    seen = generation_;
  }
}

Status FileStorePeer::RunParallel(size_t n, const std::function<Status(size_t)>& job) {
  std::unique_lock<std::mutex> l(mu_);
  job_ = &job;
  next_ = 0;
  total_ = n;
  finished_ = 0;
  first_error_ = Status::Ok();
  ++generation_;
  work_cv_.notify_all();
  done_cv_.wait(l, [&] { return finished_ == total_; });
  total_ = 0;
  job_ = nullptr;
  return first_error_;
}

std::string FileStorePeer::PathOf(const BlockSet& set, uint32_t id) const {
  return options_.dir + "/" + set.key(id);
}

Status FileStorePeer::Prepare(const BlockSet& set) {
  direct_io_ = set.block_bytes() % 4096 == 0;
  return Status::Ok();
}

Status FileStorePeer::PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) {
  return RunParallel(ids.size(), [&](size_t k) -> Status {
    std::string path = PathOf(set, ids[k]);
    int fd = ::open(path.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0), 0600);
    if (fd < 0) return Errno("open " + path);
    auto* p = const_cast<std::byte*>(set.block(ids[k]).data());
    Status s = Transfer(fd, p, set.block_bytes(), ::pwrite, path);
    if (s.ok() && options_.fdatasync && ::fdatasync(fd) != 0) s = Errno("fdatasync " + path);
    ::close(fd);
    return s;
  });
}

Status FileStorePeer::GetBlocks(const BlockSet& set, std::span<const uint32_t> ids,
                                std::byte* dest) {
  uint64_t b = set.block_bytes();
  return RunParallel(ids.size(), [&](size_t k) -> Status {
    std::string path = PathOf(set, ids[k]);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0));
    if (fd < 0) return errno == ENOENT ? Status::NotFound(path) : Errno("open " + path);
    Status s = Transfer(fd, dest + k * b, b, ::pread, path);
    ::close(fd);
    return s;
  });
}

Status FileStorePeer::Clear(const BlockSet& set) {
  for (uint32_t i = 0; i < set.count(); ++i) ::unlink(PathOf(set, i).c_str());
  return Status::Ok();
}

Result<std::byte*> FileStorePeer::DestBuffer(uint64_t bytes) {
  if (bytes > dest_bytes_) {
    FreeAligned(dest_);
    dest_ = AllocAligned(bytes);
    if (dest_ == nullptr) return Status::ResourceExhausted("destination buffer");
    dest_bytes_ = bytes;
  }
  return dest_;
}

std::string FileStorePeer::Note() {
  return std::string(direct_io_ ? "O_DIRECT" : "buffered") + ", " +
         std::to_string(options_.queue_depth) + " I/O threads" +
         (options_.fdatasync ? ", fdatasync per file" : "");
}

}  // namespace kvstash
