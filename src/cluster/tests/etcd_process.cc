#include "cluster/tests/etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/errno.h"

namespace kvstash::cluster {
namespace {

constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// A TCP port free on 127.0.0.1 a moment ago (bind port 0, read it, close). Another process
// may take it before etcd binds it; tests accept that small race.
Result<uint16_t> FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  Status s;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    s = ErrnoToStatus(errno, "bind 127.0.0.1:0");
  }
  ::close(fd);
  if (!s.ok()) return s;
  return ntohs(a.sin_port);
}

std::string Url(uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

// True when the gateway answers a range request (etcd has a leader and serves reads).
bool Answers(uint16_t port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::milliseconds(200));
  client.set_read_timeout(std::chrono::milliseconds(500));
  auto res = client.Post("/v3/kv/range", R"({"key":"AA=="})", "application/json");
  return res && res->status == 200;
}

}  // namespace

EtcdProcess::EtcdProcess(std::string dir, uint16_t client_port, uint16_t peer_port)
    : dir_(std::move(dir)), client_port_(client_port), peer_port_(peer_port) {}

EtcdProcess::~EtcdProcess() { Kill(); }

Result<std::unique_ptr<EtcdProcess>> EtcdProcess::Start(std::string dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  KVSTASH_ASSIGN_OR_RETURN(uint16_t client_port, FreeLoopbackPort());
  uint16_t peer_port = client_port;
  while (peer_port == client_port) {
    KVSTASH_ASSIGN_OR_RETURN(peer_port, FreeLoopbackPort());
  }
  std::unique_ptr<EtcdProcess> etcd(new EtcdProcess(std::move(dir), client_port, peer_port));
  KVSTASH_RETURN_IF_ERROR(etcd->Spawn());
  KVSTASH_RETURN_IF_ERROR(etcd->AwaitReady(kReadyTimeout));
  return etcd;
}

std::string EtcdProcess::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

Status EtcdProcess::Spawn() {
  std::string log_path = dir_ + "/etcd.log";
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return ErrnoToStatus(errno, "open " + log_path);
  std::vector<std::string> args = {
      kBinary,
      "--name=kvstash-test",
      "--data-dir=" + dir_ + "/data",
      "--listen-client-urls=" + Url(client_port_),
      "--advertise-client-urls=" + Url(client_port_),
      "--listen-peer-urls=" + Url(peer_port_),
      "--initial-advertise-peer-urls=" + Url(peer_port_),
      "--initial-cluster=kvstash-test=" + Url(peer_port_),
  };
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return ErrnoToStatus(errno, "fork");
  }
  if (pid == 0) {  // only async-signal-safe calls from here on
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(kBinary, argv.data());
    _exit(127);
  }
  ::close(log);
  pid_ = pid;
  return Status::Ok();
}

Status EtcdProcess::AwaitReady(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) return Status::Unavailable("etcd exited at startup: " + LogTail());
    if (Answers(client_port_)) return Status::Ok();
    std::this_thread::sleep_for(kPollInterval);
  }
  Kill();
  return Status::Unavailable("etcd not ready in time: " + LogTail());
}

bool EtcdProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int EtcdProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGCONT);  // a paused etcd cannot act on SIGTERM
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return -1;
}

Status EtcdProcess::Restart() {
  Kill();
  KVSTASH_RETURN_IF_ERROR(Spawn());
  return AwaitReady(kReadyTimeout);
}

void EtcdProcess::Pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void EtcdProcess::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string EtcdProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(dir_ + "/etcd.log");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

}  // namespace kvstash::cluster
