#include "net/tests/net_test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "engine/engine_test_util.h"
#include "net/proto/protocol.h"

namespace kvstash::testing {

bool ShmMode() {
  const char* v = std::getenv("KVSTASH_NET_TEST_SHM");
  return v != nullptr && v[0] == '1';
}

StoreOptions SmallFlashStoreOptions(Device* flash) {
  StoreOptions o = SmallFlashOptions(flash);
  o.flash.admission.kind = "all";
  return o;
}

StoreOptions TestStoreOptions() {
  StoreOptions o;
  o.dram_bytes = 256ull << 20;
  o.dram_region_bytes = 64ull << 20;
  o.max_value_bytes = 64ull << 20;
  o.try_hugepages = false;
  return o;
}

std::unique_ptr<Server> StartServerOn(BlockStore* store, uint16_t port) {
  ServerOptions so;
  so.listen_port = port;
  so.peer_failure = ShmMode() ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  auto server = Server::Create(so, store);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  Status s = (*server)->Start();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? std::move(server).value() : nullptr;
}

std::unique_ptr<TestServer> StartServer(uint16_t port, uint32_t workers, StoreOptions store_options,
                                        ServerOptions server_options) {
  auto ts = std::make_unique<TestServer>();
  auto store = BlockStore::Create(store_options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  ts->store = std::move(store).value();
  server_options.listen_port = port;
  server_options.workers = workers;
  server_options.peer_failure = ShmMode() ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  auto server = Server::Create(server_options, ts->store.get());
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  ts->server = std::move(server).value();
  Status s = ts->server->Start();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? std::move(ts) : nullptr;
}

std::unique_ptr<TestServer> StartSharedArenaServer(StoreOptions store_options,
                                                   ServerOptions server_options) {
  auto arenas = CreateSharedArenas();
  EXPECT_TRUE(arenas.ok()) << arenas.status().ToString();
  if (!arenas.ok()) return nullptr;
  store_options.arena_allocator = SharedArenaAllocator(*arenas);
  server_options.shared_arenas = *arenas;
  auto ts = StartServer(0, 1, std::move(store_options), std::move(server_options));
  if (ts != nullptr) ts->arenas = std::move(arenas).value();
  return ts;
}

ClientOptions TestClientOptions(const TestServer& s) {
  ClientOptions o;
  o.server_address = s.address();
  o.timeout = std::chrono::seconds(20);
  o.peer_failure = ShmMode() ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  return o;
}

uint64_t SeedOf(const std::string& key) { return std::hash<std::string>()(key); }

std::vector<std::byte> Pattern(uint64_t seed, size_t n) {
  std::vector<std::byte> out(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<std::byte>(x >> (8 * (i % 8)));
  return out;
}

std::unique_ptr<RawPeer> RawPeer::Connect(const std::string& host, uint16_t port,
                                          std::optional<bool> peer_failure) {
  auto p = std::unique_ptr<RawPeer>(new RawPeer());
  auto ctx = net::UcxContext::Create();
  if (!ctx.ok()) return nullptr;
  p->ctx_ = std::move(ctx).value();
  auto w = net::UcxWorker::Create(*p->ctx_);
  if (!w.ok()) return nullptr;
  p->worker_ = std::move(w).value();
  if (!p->worker_->SetAmHandler(net::kReplyAmId, &RawPeer::OnReply, p.get()).ok()) return nullptr;
  auto addr = net::ResolveAddress(host, port);
  if (!addr.ok()) return nullptr;
  auto ep =
      net::UcxEndpoint::Connect(*p->worker_, *addr, nullptr, peer_failure.value_or(!ShmMode()));
  if (!ep.ok()) return nullptr;
  p->ep_ = std::move(ep).value();
  return p;
}

RawPeer::~RawPeer() {
  ep_.reset();
  memory_.clear();
  worker_.reset();
}

ucs_status_t RawPeer::OnReply(void* arg, const void*, size_t, void* data, size_t length,
                              const ucp_am_recv_param_t*) {
  auto* self = static_cast<RawPeer*>(arg);
  const auto* b = static_cast<const std::byte*>(data);
  self->last_reply.assign(b, b + length);
  self->replies_.push_back(self->last_reply);
  self->got_reply_ = true;
  return UCS_OK;
}

bool RawPeer::Send(const std::vector<std::byte>& bytes, bool keep_replies) {
  got_reply_ = false;
  if (!keep_replies)
    replies_.clear();  // the reply may arrive while the send is still being progressed
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER;
  ucs_status_ptr_t req =
      ucp_am_send_nbx(ep_->get(), net::kRequestAmId, nullptr, 0, bytes.data(), bytes.size(), &p);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  return worker_->WaitRequest(req, deadline, "raw send").ok();
}

bool RawPeer::SendAm(unsigned am_id, std::span<const std::byte> header,
                     std::span<const std::byte> data) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_REPLY;
  ucs_status_ptr_t req = ucp_am_send_nbx(ep_->get(), am_id, header.data(), header.size(),
                                         data.data(), data.size(), &p);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  return worker_->WaitRequest(req, deadline, "raw am", [this] { return ep_->failed(); }).ok();
}

bool RawPeer::SendBurst(const std::vector<std::vector<std::byte>>& msgs) {
  replies_.clear();
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER;
  std::vector<ucs_status_ptr_t> reqs;
  for (const auto& m : msgs) {
    reqs.push_back(
        ucp_am_send_nbx(ep_->get(), net::kRequestAmId, nullptr, 0, m.data(), m.size(), &p));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool ok = true;
  for (ucs_status_ptr_t r : reqs) ok = worker_->WaitRequest(r, deadline, "raw burst").ok() && ok;
  return ok;
}

bool RawPeer::WaitClosed(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!ep_->failed() && std::chrono::steady_clock::now() < deadline) {
    worker_->ProgressAll();
    worker_->Wait(std::chrono::milliseconds(10));
  }
  return ep_->failed();
}

bool RawPeer::WaitReply(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!got_reply_ && !ep_->failed() && std::chrono::steady_clock::now() < deadline) {
    worker_->ProgressAll();
    worker_->Wait(std::chrono::milliseconds(10));
  }
  return got_reply_;
}

std::vector<std::vector<std::byte>> RawPeer::CollectReplies(size_t n, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (replies_.size() < n && !ep_->failed() && std::chrono::steady_clock::now() < deadline) {
    worker_->ProgressAll();
    worker_->Wait(std::chrono::milliseconds(10));
  }
  return replies_;
}

Status RawPeer::ReplyStatus(const std::vector<std::byte>& reply, std::span<const std::byte>* rest) {
  net::Header h;
  Status req;
  std::span<const std::byte> body;
  if (!net::DecodeHeader(reply, &h).ok() ||
      !net::DecodeReplyStatus(std::span<const std::byte>(reply).subspan(net::kHeaderBytes), &req,
                              &body)
           .ok()) {
    return Status::Internal("undecodable reply");
  }
  if (rest != nullptr) *rest = body;
  return req;
}

std::vector<std::byte> RawPeer::MapMemory(void* p, size_t n) {
  auto mem = net::UcxMemory::Map(*ctx_, p, n);
  if (!mem.ok()) return {};
  auto packed = (*mem)->packed_rkey();
  std::vector<std::byte> out(packed.begin(), packed.end());
  memory_.push_back(std::move(mem).value());
  return out;
}

uint32_t RawPeer::HelloAndRegister(std::span<std::byte> mem) {
  if (!Send(net::EncodeRequest(net::Opcode::kHello, 1, net::HelloRequest{})) || !WaitReply(5000) ||
      !ReplyStatus(last_reply).ok()) {
    return 0;
  }
  auto rkey = MapMemory(mem.data(), mem.size());
  if (rkey.empty()) return 0;
  net::RegisterBufferRequest rb{reinterpret_cast<uint64_t>(mem.data()), mem.size(), rkey};
  if (!Send(net::EncodeRequest(net::Opcode::kRegisterBuffer, 2, rb)) || !WaitReply(5000)) return 0;
  std::span<const std::byte> body;
  net::RegisterBufferReply rep;
  if (!ReplyStatus(last_reply, &body).ok() || !net::DecodeBody(body, net::Limits{}, &rep).ok()) {
    return 0;
  }
  return rep.buffer_id;
}

}  // namespace kvstash::testing
