// EtcdProcess (test-only): a real single-member etcd (/usr/bin/etcd) for the cluster tests,
// on two free loopback ports (client and peer) with its data under a test's directory. Tests
// kill it (SIGKILL), stop it (SIGTERM), pause it (SIGSTOP) and restart it on the same ports
// and data, to see what the cluster code does when etcd dies, hangs or comes back.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL) and its own process group, so no etcd outlives a
// test that crashed. Its stdout/stderr go to `dir`/etcd.log; its data to `dir`/data.
//
// Thread safety: one thread uses an EtcdProcess.
#ifndef KVSTASH_CLUSTER_TESTS_ETCD_PROCESS_H_
#define KVSTASH_CLUSTER_TESTS_ETCD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kvstash/status.h"

namespace kvstash::cluster {

class EtcdProcess {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";

  // Starts etcd with its files under `dir` (created if missing) and waits (up to 10 s) until
  // its gateway answers a range request. Errors: IOError (ports, fork, files), Unavailable
  // (exited or not ready in time; the log tail is in the message).
  static Result<std::unique_ptr<EtcdProcess>> Start(std::string dir);

  // Kills the process (SIGKILL); the data directory stays.
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // "127.0.0.1:<client port>", as EtcdOptions takes it. Unchanged by Restart.
  std::string endpoint() const;
  pid_t pid() const { return pid_; }

  // SIGKILL (a paused process too) and reap. Idempotent.
  void Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status (-1: no child, or it
  // had to be killed).
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Kills a running process, then starts etcd again on the same ports and data (its keys and
  // revisions survive; leases keep their remaining TTL) and waits until it answers.
  Status Restart();
  // SIGSTOP / SIGCONT: etcd hangs with its sockets open (connects succeed, nothing answers).
  void Pause();
  void Resume();
  // False once the process exited (reaps it).
  bool Running();
  // The end of etcd.log, for a failing test's message.
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  EtcdProcess(std::string dir, uint16_t client_port, uint16_t peer_port);
  Status Spawn();
  Status AwaitReady(std::chrono::milliseconds timeout);

  const std::string dir_;
  const uint16_t client_port_;
  const uint16_t peer_port_;
  pid_t pid_ = -1;
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_TESTS_ETCD_PROCESS_H_
