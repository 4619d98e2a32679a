// TestServer: a real kvstash server (BlockStore + net Server) inside a test or benchmark
// process, on a kernel-chosen 127.0.0.1 port. Test-only: links into test targets alone.
//
//   KVSTASH_ASSIGN_OR_RETURN(auto server, TestServer::Start(256 << 20));
//   config.client.server_address = server->address();   // "127.0.0.1:<port>"
//   server->Stop();                                       // clients now see Unavailable
//
// Thread safety: Start/Stop/destructor from the owning thread; address() from any.
#ifndef KVSTASH_NIXL_NIXL_TEST_SERVER_H_
#define KVSTASH_NIXL_NIXL_TEST_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "kvstash/status.h"

namespace kvstash {
class BlockStore;
class Server;
}  // namespace kvstash

namespace kvstash::nixl {

class TestServer {
 public:
  // A DRAM-only store of `dram_bytes` (whole 64 MiB regions; >= 2 regions) served on
  // 127.0.0.1:0. Errors: whatever BlockStore::Create / Server::Create / Start return.
  static Result<std::unique_ptr<TestServer>> Start(uint64_t dram_bytes);
  ~TestServer();

  std::string address() const { return address_; }
  // Stops serving (idempotent); the store stays until destruction.
  void Stop();

 private:
  TestServer() = default;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<Server> server_;
  std::string address_;
};

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_NIXL_TEST_SERVER_H_
