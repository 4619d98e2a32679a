// kvstash::Client: connection management, registration and the small calls. The Put/Get data
// path is in client_data.cc.
#include "kvstash/client.h"

#include <fmt/format.h>

#include "net/client/client_impl.h"
#include "net/proto/protocol.h"

namespace kvstash {

using net::Opcode;

// ---- TaskQueue -----------------------------------------------------------------------------
void TaskQueue::Shutdown() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void TaskQueue::Submit(std::function<void()> task) {
  MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void TaskQueue::Run() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_ || !tasks_.empty(); };
      mu_.Await(Condition(&ready));
      if (tasks_.empty()) return;  // stop requested and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---- Options / BufferHandle ----------------------------------------------------------------
std::string_view TransferName(ClientOptions::Transfer t) {
  switch (t) {
    case ClientOptions::Transfer::kRma:
      return "rma";
    case ClientOptions::Transfer::kMessage:
      return "message";
    case ClientOptions::Transfer::kAuto:
      break;
  }
  return "auto";
}

Status ClientOptions::Validate() const {
  auto bad = [](std::string_view w) {
    return Status::InvalidArgument("ClientOptions: " + std::string(w));
  };
  if (server_address.empty()) return bad("server_address is empty");
  if (timeout.count() <= 0) return bad("timeout must be > 0");
  if (connect_timeout.count() <= 0) return bad("connect_timeout must be > 0");
  if (token.size() > net::Limits::kMaxTokenBytes) return bad("token over 256 bytes");
  if (max_staging_bytes < 4096) return bad("max_staging_bytes must be >= 4096");
  return net::SplitHostPort(server_address).status();
}

BufferHandle::BufferHandle(BufferHandle&& o) noexcept { *this = std::move(o); }

BufferHandle& BufferHandle::operator=(BufferHandle&& o) noexcept {
  if (this != &o) {
    Reset();
    client_ = std::exchange(o.client_, nullptr);
    client_alive_ = std::move(o.client_alive_);
    o.client_alive_.reset();
    id_ = o.id_;
    data_ = o.data_;
    size_ = o.size_;
  }
  return *this;
}

BufferHandle::~BufferHandle() { Reset(); }

void BufferHandle::Reset() {
  if (client_ != nullptr && !client_alive_.expired()) client_->UnregisterBuffer(id_);
  client_ = nullptr;
  client_alive_.reset();
}

// ---- Impl helpers --------------------------------------------------------------------------
Status Client::Impl::EnsureConnected(net::SteadyTime deadline, bool retry) {
  if (conn != nullptr && conn->alive()) return Status::Ok();
  conn.reset();  // closes the dead endpoint first
  connected.store(false);
  KVSTASH_ASSIGN_OR_RETURN(conn,
                           net::ClientConnection::Open(*worker, inbox, options, deadline, retry));
  ++epoch;  // every registration must be announced again
  connected.store(true);
  return Status::Ok();
}

Result<uint32_t> Client::Impl::ServerBufferId(net::Registration& reg, net::SteadyTime deadline) {
  KVSTASH_RETURN_IF_ERROR(EnsureConnected(deadline));
  if (reg.epoch == epoch) return reg.server_id;
  net::RegisterBufferRequest req;
  req.address = reinterpret_cast<uint64_t>(reg.memory->address());
  req.length = reg.memory->length();
  req.rkey = reg.memory->packed_rkey();
  KVSTASH_ASSIGN_OR_RETURN(auto body, Call(Opcode::kRegisterBuffer, req, deadline));
  net::RegisterBufferReply rep;
  KVSTASH_RETURN_IF_ERROR(net::DecodeBody(std::span<const std::byte>(body), conn->limits(), &rep));
  reg.server_id = rep.buffer_id;
  reg.epoch = epoch;
  return rep.buffer_id;
}

Status Client::Impl::EnsureStaging(size_t bytes, net::SteadyTime deadline) {
  if (bytes > options.max_staging_bytes) return Status::Internal("staging request over max");
  if (staging != nullptr && staging_bytes >= bytes) return Status::Ok();
  size_t want =
      std::min<size_t>(std::max<size_t>(bytes, 2 * staging_bytes), options.max_staging_bytes);
  want = std::max<size_t>(want, 1 << 20);
  if (staging_reg != 0) {
    net::Registration* old = registry.Get(staging_reg);
    if (old != nullptr && old->epoch == epoch && conn != nullptr && conn->alive()) {
      (void)Call(Opcode::kUnregisterBuffer, net::UnregisterBufferRequest{old->server_id}, deadline);
    }
    registry.Remove(staging_reg);
    staging_reg = 0;
  }
  staging = net::AllocateHostBuffer(want);
  if (staging == nullptr) return Status::ResourceExhausted("staging allocation failed");
  staging_bytes = want;
  KVSTASH_ASSIGN_OR_RETURN(net::Registration * reg, registry.Add(*context, staging.get(), want));
  staging_reg = reg->id;
  return Status::Ok();
}

Status Client::Impl::CheckKey(std::string_view key) const {
  uint32_t max = conn != nullptr ? conn->limits().max_key_bytes : 256;
  if (key.empty() || key.size() > max) {
    return Status::InvalidArgument(fmt::format("key length {} outside [1, {}]", key.size(), max));
  }
  return Status::Ok();
}

// ---- Client --------------------------------------------------------------------------------
Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  impl_->executor.Shutdown();  // async calls still use this Client
  MutexLock lock(&impl_->mu);
  impl_->conn.reset();
}

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  KVSTASH_ASSIGN_OR_RETURN(impl->context, net::UcxContext::Create());
  KVSTASH_ASSIGN_OR_RETURN(impl->worker, net::UcxWorker::Create(*impl->context));
  KVSTASH_RETURN_IF_ERROR(
      impl->worker->SetAmHandler(net::kReplyAmId, &net::ReplyInbox::OnReply, &impl->inbox));
  KVSTASH_RETURN_IF_ERROR(
      impl->worker->SetAmHandler(net::kPayloadAmId, &net::ReplyInbox::OnPayload, &impl->inbox));
  {
    MutexLock lock(&impl->mu);
    KVSTASH_RETURN_IF_ERROR(impl->EnsureConnected(impl->Deadline(), /*retry=*/true));
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<BufferHandle> Client::RegisterBuffer(void* data, size_t size) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  KVSTASH_ASSIGN_OR_RETURN(net::Registration * reg, im.registry.Add(*im.context, data, size));
  auto id = im.ServerBufferId(*reg, im.Deadline());
  if (!id.ok()) {
    im.registry.Remove(reg->id);
    return id.status();
  }
  return BufferHandle(this, alive_, reg->id, data, size);
}

Result<BufferHandle> Client::AllocateBuffer(size_t size) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  KVSTASH_ASSIGN_OR_RETURN(net::Registration * reg, im.registry.Allocate(*im.context, size));
  auto id = im.ServerBufferId(*reg, im.Deadline());
  if (!id.ok()) {
    im.registry.Remove(reg->id);
    return id.status();
  }
  return BufferHandle(this, alive_, reg->id, reg->memory->address(), size);
}

void Client::UnregisterBuffer(uint64_t id) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  net::Registration* reg = im.registry.Get(id);
  if (reg == nullptr) return;
  if (reg->epoch == im.epoch && im.conn != nullptr && im.conn->alive()) {
    // Best effort: a server that does not hear it drops the id with the connection.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    (void)im.Call(Opcode::kUnregisterBuffer, net::UnregisterBufferRequest{reg->server_id},
                  std::min(deadline, im.Deadline()));
  }
  im.registry.Remove(id);
}

Status Client::Put(std::string_view key, std::span<const std::byte> value) {
  PutItem item{key, value};
  KVSTASH_ASSIGN_OR_RETURN(auto statuses, PutBatch(std::span(&item, 1)));
  return statuses[0];
}

Result<size_t> Client::Get(std::string_view key, std::span<std::byte> dest) {
  GetItem item{key, dest};
  KVSTASH_ASSIGN_OR_RETURN(auto results, GetBatch(std::span(&item, 1)));
  return std::move(results[0]);
}

Result<bool> Client::Exists(std::string_view key) {
  KVSTASH_ASSIGN_OR_RETURN(auto v, ExistsBatch(std::span(&key, 1)));
  return static_cast<bool>(v[0]);
}

Status Client::Delete(std::string_view key) {
  KVSTASH_ASSIGN_OR_RETURN(auto v, DeleteBatch(std::span(&key, 1)));
  return v[0];
}

Result<std::vector<bool>> Client::ExistsBatch(std::span<const std::string_view> keys) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_RETURN_IF_ERROR(im.EnsureConnected(deadline));
  for (auto k : keys) KVSTASH_RETURN_IF_ERROR(im.CheckKey(k));
  std::vector<bool> out;
  size_t max = im.conn->limits().max_batch_keys;
  for (size_t i = 0; i < keys.size(); i += max) {
    net::KeysRequest req;
    auto part = keys.subspan(i, std::min(max, keys.size() - i));
    req.keys.assign(part.begin(), part.end());
    KVSTASH_ASSIGN_OR_RETURN(auto body, im.Call(Opcode::kExists, req, deadline));
    net::ExistsReply rep;
    KVSTASH_RETURN_IF_ERROR(
        net::DecodeBody(std::span<const std::byte>(body), im.conn->limits(), &rep));
    if (rep.present.size() != part.size()) return Status::Internal("exists reply count");
    out.insert(out.end(), rep.present.begin(), rep.present.end());
  }
  return out;
}

Result<size_t> Client::LongestPrefix(std::span<const std::string_view> keys) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_RETURN_IF_ERROR(im.EnsureConnected(deadline));
  for (auto k : keys) KVSTASH_RETURN_IF_ERROR(im.CheckKey(k));
  size_t total = 0;
  size_t max = im.conn->limits().max_batch_keys;
  for (size_t i = 0; i < keys.size(); i += max) {
    net::KeysRequest req;
    auto part = keys.subspan(i, std::min(max, keys.size() - i));
    req.keys.assign(part.begin(), part.end());
    KVSTASH_ASSIGN_OR_RETURN(auto body, im.Call(Opcode::kLongestPrefix, req, deadline));
    net::LongestPrefixReply rep;
    KVSTASH_RETURN_IF_ERROR(
        net::DecodeBody(std::span<const std::byte>(body), im.conn->limits(), &rep));
    if (rep.count > part.size()) return Status::Internal("prefix count over request");
    total += rep.count;
    if (rep.count < part.size()) break;  // a gap: later keys are useless
  }
  return total;
}

Result<std::vector<Status>> Client::DeleteBatch(std::span<const std::string_view> keys) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_RETURN_IF_ERROR(im.EnsureConnected(deadline));
  std::vector<Status> out(keys.size());
  net::KeysRequest req;
  std::vector<size_t> idx;
  size_t max = im.conn->limits().max_batch_keys;
  for (size_t i = 0; i <= keys.size(); ++i) {
    if (!req.keys.empty() && (i == keys.size() || req.keys.size() == max)) {
      KVSTASH_ASSIGN_OR_RETURN(auto body, im.Call(Opcode::kDelete, req, deadline));
      net::StatusListReply rep;
      KVSTASH_RETURN_IF_ERROR(
          net::DecodeBody(std::span<const std::byte>(body), im.conn->limits(), &rep));
      if (rep.statuses.size() != idx.size()) return Status::Internal("delete reply count");
      for (size_t j = 0; j < idx.size(); ++j) out[idx[j]] = Status(rep.statuses[j], "");
      req.keys.clear();
      idx.clear();
    }
    if (i == keys.size()) break;
    if (Status s = im.CheckKey(keys[i]); !s.ok()) {
      out[i] = s;
      continue;
    }
    req.keys.push_back(keys[i]);
    idx.push_back(i);
  }
  return out;
}

Result<std::map<std::string, uint64_t>> Client::Stats() {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_ASSIGN_OR_RETURN(auto body, im.Call(Opcode::kStats, net::StatsRequest{}, deadline));
  net::StatsReply rep;
  KVSTASH_RETURN_IF_ERROR(
      net::DecodeBody(std::span<const std::byte>(body), im.conn->limits(), &rep));
  std::map<std::string, uint64_t> out(rep.entries.begin(), rep.entries.end());
  out["client.put_bytes_mapped"] = im.put_bytes_mapped;
  out["client.get_bytes_messages"] = im.get_bytes_messages;
  out["client.put_bytes_messages"] = im.put_bytes_messages;
  return out;
}

std::future<Result<std::vector<Status>>> Client::PutBatchAsync(std::vector<PutItem> items) {
  auto promise = std::make_shared<std::promise<Result<std::vector<Status>>>>();
  auto future = promise->get_future();
  impl_->executor.Submit(
      [this, promise, items = std::move(items)] { promise->set_value(PutBatch(items)); });
  return future;
}

std::future<Result<std::vector<Result<size_t>>>> Client::GetBatchAsync(std::vector<GetItem> items) {
  auto promise = std::make_shared<std::promise<Result<std::vector<Result<size_t>>>>>();
  auto future = promise->get_future();
  impl_->executor.Submit(
      [this, promise, items = std::move(items)] { promise->set_value(GetBatch(items)); });
  return future;
}

bool Client::connected() const { return impl_->connected.load(); }

bool Client::cuda_support() { return net::CudaBuild(); }

}  // namespace kvstash
