// Child processes of `kvstash-peers`: the servers it benchmarks against (redis-server, its own
// kvstash serve mode, mooncake helpers) run as separate processes on loopback, started and
// always stopped by the benchmark itself.
//
// ChildProcess is RAII: the destructor sends SIGTERM, waits up to 5 s, then SIGKILLs, so no
// server outlives a run even when the benchmark fails halfway. Each child is put in its own
// process group and gets PR_SET_PDEATHSIG(SIGKILL), so it also dies if kvstash-peers is killed.
//
// Thread safety: a ChildProcess is used from one thread.
#ifndef KVSTASH_TOOLS_PEER_PROCESS_H_
#define KVSTASH_TOOLS_PEER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

class ChildProcess {
 public:
  // Starts argv[0] (searched in $PATH) with `argv`, extra environment `env` ("K=V", added to
  // ours), stdout+stderr appended to `log_path`. Errors: IOError (fork/exec/log file).
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env,
                                    const std::string& log_path);

  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept { *this = std::move(o); }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess() { Stop(); }

  // True while the child has not exited (reaps it if it has).
  bool Running();
  // SIGTERM, up to `grace` to exit, then SIGKILL. Returns the exit status (as waitpid), or -1
  // when there was no child. Idempotent.
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // The last `max_bytes` of the child's log (for error messages).
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// Polls `ready` every 20 ms until it returns true, the child exits, or `timeout` passes.
// Errors: Unavailable naming `what` with the child's log tail.
Status WaitUntilReady(ChildProcess& child, const std::function<bool()>& ready,
                      std::chrono::milliseconds timeout, const std::string& what);

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close).
Result<uint16_t> FreeLoopbackPort();
// True when something accepts TCP connections on 127.0.0.1:port.
bool TcpPortAccepts(uint16_t port);
// The absolute path of `name` found in $PATH, or "" when absent.
std::string FindInPath(const std::string& name);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_PROCESS_H_
