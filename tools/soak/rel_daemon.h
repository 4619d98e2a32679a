// KvstashdProcess: a real kvstashd child process for the reliability tests and kvstash-soak:
// started on a loopback port with a temporary flash file, killed (SIGKILL) or stopped
// (SIGTERM), restarted on the same port, and measured (VmRSS from /proc/<pid>/status).
//
// The child gets PR_SET_PDEATHSIG(SIGKILL) and its own process group, so no daemon outlives a
// test that crashed. Its stdout/stderr go to `log_path`.
//
// Thread safety: one thread uses a KvstashdProcess.
#ifndef KVSTASH_TOOLS_REL_DAEMON_H_
#define KVSTASH_TOOLS_REL_DAEMON_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

// A TCP port free on 127.0.0.1 a moment ago (bind port 0, read it, close).
Result<uint16_t> FreeLoopbackPort();

// VmRSS of `pid` in bytes (from /proc/<pid>/status). NotFound if the process is gone.
Result<uint64_t> ProcessRssBytes(pid_t pid);

class KvstashdProcess {
 public:
  // `binary`: the kvstashd path; `args`: its flags (the caller includes --listen).
  KvstashdProcess(std::string binary, std::vector<std::string> args, std::string log_path)
      : binary_(std::move(binary)), args_(std::move(args)), log_path_(std::move(log_path)) {}
  ~KvstashdProcess() { Kill(); }
  KvstashdProcess(const KvstashdProcess&) = delete;
  KvstashdProcess& operator=(const KvstashdProcess&) = delete;

  // Spawns the daemon and waits (up to `timeout`) until it logs its startup line. Errors:
  // IOError (fork/exec), Unavailable (exited or not ready in time; the log tail is included).
  Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGKILL and reap. Idempotent.
  void Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status (-1: no child).
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  bool Running();
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_REL_DAEMON_H_
