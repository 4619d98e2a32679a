#include "nixl/nixl_test_server.h"

#include <utility>

#include "engine/block_store.h"
#include "net/server/server.h"

namespace kvstash::nixl {

Result<std::unique_ptr<TestServer>> TestServer::Start(uint64_t dram_bytes) {
  std::unique_ptr<TestServer> ts(new TestServer());
  StoreOptions store_options;
  store_options.dram_bytes = dram_bytes;
  store_options.try_hugepages = false;
  KVSTASH_ASSIGN_OR_RETURN(ts->store_, BlockStore::Create(store_options));

  ServerOptions server_options;
  server_options.listen_host = "127.0.0.1";
  server_options.listen_port = 0;
  KVSTASH_ASSIGN_OR_RETURN(ts->server_, Server::Create(server_options, ts->store_.get()));
  KVSTASH_RETURN_IF_ERROR(ts->server_->Start());
  ts->address_ = "127.0.0.1:" + std::to_string(ts->server_->port());
  return ts;
}

TestServer::~TestServer() {
  Stop();
  server_.reset();  // before the store it serves
  store_.reset();
}

void TestServer::Stop() {
  if (server_) server_->Stop();
}

}  // namespace kvstash::nixl
