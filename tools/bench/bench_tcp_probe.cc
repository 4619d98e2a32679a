#include "tools/bench/bench_tcp_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "common/errno.h"

namespace kvstash {
namespace {

// Owns one file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status SysError(const char* what) { return ErrnoToStatus(errno, what); }

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Binds a listener on 127.0.0.1:0; *addr receives the bound address.
Status Listen(const Fd& fd, sockaddr_in* addr) {
  *addr = {};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(*addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(addr), len) != 0) return SysError("bind");
  if (::listen(fd.get(), 1) != 0) return SysError("listen");
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    return SysError("getsockname");
  }
  return Status::Ok();
}

// Writes `chunk`-sized buffers until `stop`; then shuts the write side down.
void SendUntil(int fd, uint64_t chunk, const std::atomic<bool>* stop) {
  std::vector<char> buf(chunk, 'k');
  while (!stop->load(std::memory_order_relaxed)) {
    size_t off = 0;
    while (off < buf.size()) {
      ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  ::shutdown(fd, SHUT_WR);
}

}  // namespace

Result<TcpProbeResult> ProbeLoopbackTcp(uint64_t write_bytes, double seconds) {
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return SysError("socket");
  sockaddr_in addr;
  KVSTASH_RETURN_IF_ERROR(Listen(listener, &addr));
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.get() < 0) return SysError("socket");
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return SysError("connect");
  }
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (server.get() < 0) return SysError("accept");
  NoDelay(client.get());
  NoDelay(server.get());

  std::atomic<bool> stop{false};
  std::thread sender(SendUntil, client.get(), write_bytes, &stop);
  std::vector<char> buf(write_bytes);
  TcpProbeResult r;
  r.write_bytes = write_bytes;
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  while (true) {
    ssize_t n = ::recv(server.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.bytes += static_cast<uint64_t>(n);
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (r.seconds >= seconds) stop.store(true);
  }
  sender.join();
  if (r.bytes == 0) return Status::Internal("loopback TCP probe received nothing");
  return r;
}

}  // namespace kvstash
