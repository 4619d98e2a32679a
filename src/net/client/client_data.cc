// kvstash::Client data path.
//
// Put:  Allocate(batch) -> ucp_put_nbx of each granted value straight into the server arena
//       (or one memcpy when the arena is a shared segment mapped here: a server on this host)
//       -> one endpoint flush (remote completion) -> Commit(batch, checksums).
// Get:  Get(batch of {key, buffer id, offset, capacity}) -> the server puts each hit into our
//       registered memory and flushes before it replies. Destinations outside any registered
//       buffer land in the staging buffer and are copied out (memcpy, or cudaMemcpy for VRAM).
//       Where puts would be emulated (no native RMA lane: TCP, UCX 1.13 shared memory), host
//       destinations are asked for as payload messages instead (buffer id kPayloadBufferId):
//       the server sends each hit as an active message whose rendezvous lands straight in the
//       destination (ReplyInbox::OnPayload); the Get returns once every receive completed.
#include <fmt/format.h>

#include <cstring>

#include "common/checksum.h"
#include "common/logging.h"
#include "kvstash/client.h"
#include "net/client/client_impl.h"
#include "net/ucx/ucx_status.h"

namespace kvstash {

using net::Opcode;

namespace {
constexpr size_t kStagingAlign = 64;
size_t AlignUp(size_t n) { return (n + kStagingAlign - 1) & ~(kStagingAlign - 1); }
}  // namespace

Status Client::Impl::PutBytes(std::span<const std::byte> value, uint64_t remote,
                              net::SteadyTime deadline) {
  ucp_request_param_t p{};
  if (net::ClassifyPointer(value.data()) == net::MemoryKind::kDevice) {
    if (!context->SupportsMemoryType(UCS_MEMORY_TYPE_CUDA)) {
      return PutDeviceStaged(value, remote, deadline);
    }
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    p.memory_type = UCS_MEMORY_TYPE_CUDA;
  } else if (std::byte* arena = conn->arena_mapped()) {
    // The caller checked the range against the arena's bounds.
    std::memcpy(arena + (remote - conn->arena_address()), value.data(), value.size());
    put_bytes_mapped += value.size();
    return Status::Ok();
  }
  // Inside a registered buffer: use its handle. Otherwise UCX registers on the fly through its
  // registration cache, which tracks unmaps (so a freed and reused address is never stale).
  if (net::Registration* reg = registry.Find(value.data(), value.size())) {
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    p.memh = reg->memory->get();
  }
  ucs_status_ptr_t req =
      ucp_put_nbx(conn->ep(), value.data(), value.size(), remote, conn->arena_rkey(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    conn->Kill();
    return net::UcsToStatus(UCS_PTR_STATUS(req), "ucp_put_nbx");
  }
  if (req != nullptr) ucp_request_free(req);  // completion is covered by the flush
  return Status::Ok();
}

Status Client::Impl::PutDeviceStaged(std::span<const std::byte> value, uint64_t remote,
                                     net::SteadyTime deadline) {
  // VRAM without a CUDA-aware UCX: device -> pinned staging -> put, one staging-full at a time.
  KVSTASH_RETURN_IF_ERROR(conn->Flush(deadline));  // earlier puts may still read the staging buffer
  size_t chunk_max = options.max_staging_bytes;
  KVSTASH_RETURN_IF_ERROR(EnsureStaging(std::min(value.size(), chunk_max), deadline));
  net::Registration* reg = registry.Get(staging_reg);
  for (size_t done = 0; done < value.size();) {
    size_t n = std::min(value.size() - done, staging_bytes);
    KVSTASH_RETURN_IF_ERROR(net::CopyDeviceToHost(staging.get(), value.data() + done, n));
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_MEMH;
    p.memh = reg->memory->get();
    ucs_status_ptr_t req =
        ucp_put_nbx(conn->ep(), staging.get(), n, remote + done, conn->arena_rkey(), &p);
    KVSTASH_RETURN_IF_ERROR(conn->worker().WaitRequest(req, deadline, "ucp_put_nbx"));
    KVSTASH_RETURN_IF_ERROR(conn->Flush(deadline));
    done += n;
  }
  return Status::Ok();
}

Result<std::vector<Status>> Client::Impl::PutChunk(std::span<const PutItem> items,
                                                   net::SteadyTime deadline) {
  std::vector<Status> out(items.size());
  const net::Limits& l = conn->limits();
  net::AllocateRequest areq;
  std::vector<size_t> idx;
  for (size_t i = 0; i < items.size(); ++i) {
    out[i] = CheckKey(items[i].key);
    if (out[i].ok() && (items[i].value.empty() || items[i].value.size() > l.max_value_bytes)) {
      out[i] = Status::InvalidArgument(
          fmt::format("value size {} outside [1, {}]", items[i].value.size(), l.max_value_bytes));
    }
    if (!out[i].ok()) continue;
    areq.items.push_back({items[i].key, items[i].value.size()});
    idx.push_back(i);
  }
  if (idx.empty()) return out;
  KVSTASH_ASSIGN_OR_RETURN(auto body, Call(Opcode::kAllocate, areq, deadline));
  net::AllocateReply arep;
  KVSTASH_RETURN_IF_ERROR(net::DecodeBody(std::span<const std::byte>(body), l, &arep));
  if (arep.items.size() != idx.size()) return Status::Internal("allocate reply count");
  net::CommitRequest creq;
  std::vector<size_t> cidx;
  std::vector<ucs_status_ptr_t> sends;  // put payloads in flight
  put_headers = std::make_shared<PutHeaders>();
  put_headers->reserve(idx.size());
  bool rma_puts = false;
  Status failed;  // stops the loop; the sends already made are completed first
  for (size_t j = 0; j < idx.size() && failed.ok(); ++j) {
    const PutItem& item = items[idx[j]];
    const auto& a = arep.items[j];
    if (a.status != StatusCode::kOk) {
      out[idx[j]] = Status(a.status, "allocate refused");
      continue;
    }
    if (a.offset > conn->arena_bytes() || item.value.size() > conn->arena_bytes() - a.offset) {
      failed = Status::Internal("server granted an offset outside its arena");
      break;
    }
    if (PutAsMessage(item.value)) {
      failed = SendPutPayload(item.value, a.offset, &sends);
    } else {
      failed = PutBytes(item.value, conn->arena_address() + a.offset, deadline);
      rma_puts = true;
    }
    if (!failed.ok()) break;
    std::optional<uint64_t> sum;
    if (options.send_checksums &&
        net::ClassifyPointer(item.value.data()) == net::MemoryKind::kHost) {
      sum = ComputeChecksum(item.value).value();
    }
    creq.items.push_back({item.key, a.offset, sum});
    cidx.push_back(idx[j]);
  }
  Status sent = WaitPutPayloads(std::move(sends), deadline);
  KVSTASH_RETURN_IF_ERROR(failed);
  KVSTASH_RETURN_IF_ERROR(sent);
  if (creq.items.empty()) return out;
  // The bytes are in the server's memory from here (payload messages: the server also holds
  // the Commit back until every payload it got has landed).
  if (rma_puts) KVSTASH_RETURN_IF_ERROR(conn->Flush(deadline));
  KVSTASH_ASSIGN_OR_RETURN(body, Call(Opcode::kCommit, creq, deadline));
  net::StatusListReply crep;
  KVSTASH_RETURN_IF_ERROR(net::DecodeBody(std::span<const std::byte>(body), l, &crep));
  if (crep.statuses.size() != cidx.size()) return Status::Internal("commit reply count");
  for (size_t j = 0; j < cidx.size(); ++j) out[cidx[j]] = Status(crep.statuses[j], "");
  return out;
}

Result<std::vector<Status>> Client::PutBatch(std::span<const PutItem> items) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_RETURN_IF_ERROR(im.EnsureConnected(deadline));
  std::vector<Status> out;
  out.reserve(items.size());
  size_t max = im.conn->limits().max_batch_keys;
  for (size_t i = 0; i < items.size(); i += max) {
    KVSTASH_ASSIGN_OR_RETURN(
        auto part, im.PutChunk(items.subspan(i, std::min(max, items.size() - i)), deadline));
    for (auto& s : part) out.push_back(std::move(s));
  }
  return out;
}

namespace {
// One staged Get item: where it lands in the staging buffer.
struct Staged {
  size_t item;
  size_t offset;
};
}  // namespace

Result<std::vector<Result<size_t>>> Client::Impl::GetChunk(std::span<const GetItem> items,
                                                           net::SteadyTime deadline) {
  std::vector<Result<size_t>> out(items.size(), Result<size_t>(Status::Internal("unset")));
  net::GetRequest req;
  std::vector<size_t> idx;
  std::vector<std::optional<size_t>> staged_at(items.size());
  std::vector<std::span<std::byte>> payload_dests;  // by request item
  bool payloads = false;
  size_t staging_need = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const GetItem& it = items[i];
    if (Status s = CheckKey(it.key); !s.ok() || it.dest.empty()) {
      out[i] = s.ok() ? Status::InvalidArgument("empty destination") : s;
      continue;
    }
    idx.push_back(i);
    if (GetAsMessage(it.dest)) {
      req.items.push_back({it.key, net::kPayloadBufferId, 0, it.dest.size()});
      payload_dests.push_back(it.dest);
      payloads = true;
      continue;
    }
    payload_dests.emplace_back();
    net::Registration* reg = registry.Find(it.dest.data(), it.dest.size());
    if (reg != nullptr && reg->id != staging_reg) {
      KVSTASH_ASSIGN_OR_RETURN(uint32_t id, ServerBufferId(*reg, deadline));
      uint64_t off = it.dest.data() - reg->memory->address();
      req.items.push_back({it.key, id, off, it.dest.size()});
    } else {
      staged_at[i] = staging_need;
      staging_need += AlignUp(std::min<size_t>(it.dest.size(), options.max_staging_bytes));
      req.items.push_back({it.key, 0, *staged_at[i], 0});
    }
  }
  if (idx.empty()) return out;
  if (staging_need > 0) {
    KVSTASH_RETURN_IF_ERROR(EnsureStaging(staging_need, deadline));
    KVSTASH_ASSIGN_OR_RETURN(uint32_t sid, ServerBufferId(*registry.Get(staging_reg), deadline));
    for (size_t j = 0; j < idx.size(); ++j) {
      if (!staged_at[idx[j]]) continue;
      req.items[j].buffer_id = sid;
      req.items[j].capacity =
          std::min<size_t>(items[idx[j]].dest.size(), options.max_staging_bytes);
    }
  }
  const uint64_t request_id = net::ClientConnection::NextRequestId();
  if (payloads) inbox.sink.Arm(request_id, worker->get(), std::move(payload_dests));
  auto body = Call(Opcode::kGet, req, deadline, request_id);
  std::vector<uint64_t> received;
  if (payloads) {
    Status drained = DrainPayloads(deadline);
    bool failed = inbox.sink.error;
    received = std::move(inbox.sink.received);
    inbox.sink.Disarm();
    KVSTASH_RETURN_IF_ERROR(body.status());
    KVSTASH_RETURN_IF_ERROR(drained);
    if (failed) {
      conn->Kill();
      connected.store(false);
      return Status::Unavailable("a payload message of the Get failed or did not fit");
    }
  }
  KVSTASH_RETURN_IF_ERROR(body.status());
  net::GetReply rep;
  KVSTASH_RETURN_IF_ERROR(net::DecodeBody(std::span<const std::byte>(*body), conn->limits(), &rep));
  if (rep.items.size() != idx.size()) return Status::Internal("get reply count");
  for (size_t j = 0; j < idx.size(); ++j) {
    size_t i = idx[j];
    const net::GetReply::Item& r = rep.items[j];
    if (req.items[j].buffer_id == net::kPayloadBufferId && r.status == StatusCode::kOk) {
      if (received[j] != r.size) {
        conn->Kill();  // an OK item whose bytes never came (or differ in size): do not trust it
        connected.store(false);
        return Status::Internal(fmt::format("server reported {} bytes for item {} but sent {}",
                                            r.size, j, static_cast<int64_t>(received[j])));
      }
      get_bytes_messages += r.size;
    }
    const std::byte* staged = staged_at[i] ? staging.get() + *staged_at[i] : nullptr;
    out[i] = FinishGetItem(items[i], req.items[j].capacity, r, staged);
  }
  return out;
}

bool Client::Impl::GetAsMessage(std::span<std::byte> dest) {
  if (conn == nullptr || net::ClassifyPointer(dest.data()) == net::MemoryKind::kDevice) {
    return false;
  }
  if (conn->arena_mapped() != nullptr) {
    // A server on this host maps a buffer from AllocateBuffer and fills it with one memcpy.
    net::Registration* reg = registry.Find(dest.data(), dest.size());
    if (reg != nullptr && reg->allocated) return false;
  }
  return UseMessages();
}

bool Client::Impl::UseMessages() const {
  switch (options.transfer) {
    case ClientOptions::Transfer::kRma:
      return false;
    case ClientOptions::Transfer::kMessage:
      return true;
    case ClientOptions::Transfer::kAuto:
      break;
  }
  return !conn->native_rma();
}

bool Client::Impl::PutAsMessage(std::span<const std::byte> value) {
  // The server's arena mapped here takes one memcpy; device memory goes one-sided.
  if (conn == nullptr || conn->arena_mapped() != nullptr ||
      net::ClassifyPointer(value.data()) == net::MemoryKind::kDevice) {
    return false;
  }
  return UseMessages();
}

Status Client::Impl::SendPutPayload(std::span<const std::byte> value, uint64_t offset,
                                    std::vector<ucs_status_ptr_t>* sends) {
  const auto& header = put_headers->emplace_back(net::EncodePutPayloadHeader(offset));
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_REPLY;  // the server finds the connection by the reply endpoint
  if (net::Registration* reg = registry.Find(value.data(), value.size())) {
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    p.memh = reg->memory->get();
  }
  ucs_status_ptr_t req = ucp_am_send_nbx(conn->ep(), net::kPutPayloadAmId, header.data(),
                                         header.size(), value.data(), value.size(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    conn->Kill();
    connected.store(false);
    return net::UcsToStatus(UCS_PTR_STATUS(req), "ucp_am_send_nbx (put payload)");
  }
  if (req != nullptr) sends->push_back(req);
  put_bytes_messages += value.size();
  return Status::Ok();
}

Status Client::Impl::WaitPutPayloads(std::vector<ucs_status_ptr_t> sends,
                                     net::SteadyTime deadline) {
  Status result;
  size_t done = 0;
  while (done < sends.size()) {
    ucs_status_t s = ucp_request_check_status(sends[done]);
    if (s != UCS_INPROGRESS) {
      if (s != UCS_OK && result.ok()) result = net::UcsToStatus(s, "put payload");
      ucp_request_free(sends[done]);
      ++done;
      continue;
    }
    if (!conn->alive() || std::chrono::steady_clock::now() >= deadline) break;
    if (worker->ProgressAll() == 0) {
      worker->Wait(net::TimeLeft(deadline, std::chrono::milliseconds(5)));
    }
  }
  if (done < sends.size()) {
    // Sends still reading the caller's values: closing the endpoint makes UCX complete them
    // (with peer-failure handling); without it the endpoint keeps them and is parked until
    // they complete (UcxEndpoint::Abandon).
    bool timed_out = std::chrono::steady_clock::now() >= deadline;
    for (size_t i = done; i < sends.size(); ++i) conn->Abandon(sends[i], put_headers);
    conn.reset();
    connected.store(false);
    worker->ProgressAll();
    return timed_out ? Status::Timeout("put payloads timed out")
                     : Status::Unavailable("connection lost while sending put payloads");
  }
  if (!result.ok()) {
    conn->Kill();
    connected.store(false);
  }
  return result;
}

Status Client::Impl::DrainPayloads(net::SteadyTime deadline) {
  net::PayloadSink& sink = inbox.sink;
  while (sink.outstanding > 0 && conn != nullptr && conn->alive() &&
         std::chrono::steady_clock::now() < deadline) {
    worker->ProgressAll();
    if (sink.outstanding > 0) worker->Wait(net::TimeLeft(deadline, std::chrono::milliseconds(5)));
  }
  if (sink.outstanding == 0) return Status::Ok();
  // Receives still in flight into the caller's memory: closing the endpoint makes UCX complete
  // them (with an error) before the Get returns.
  bool timed_out = std::chrono::steady_clock::now() >= deadline;
  conn.reset();
  connected.store(false);
  worker->ProgressAll();
  if (sink.outstanding > 0) {
    KVSTASH_LOG_EVERY_N_SEC(error, 5, "{} payload receives still in flight after close",
                            sink.outstanding);
  }
  return timed_out ? Status::Timeout("Get payloads timed out")
                   : Status::Unavailable("connection lost while receiving a Get's payloads");
}

Result<size_t> Client::Impl::FinishGetItem(const GetItem& item, uint64_t capacity,
                                           const net::GetReply::Item& r, const std::byte* staged) {
  if (r.status == StatusCode::kOk && r.size > capacity) {
    conn->Kill();  // a server that writes past what it was given is not to be trusted further
    return Status::Internal("server reported more bytes than the capacity it was given");
  }
  if (r.status != StatusCode::kOk) {
    if (r.status == StatusCode::kInvalidArgument && r.size > capacity) {
      return Status::InvalidArgument(fmt::format(
          "destination of {} bytes too small: block is {} bytes", item.dest.size(), r.size));
    }
    return Status(r.status, "");
  }
  if (staged != nullptr) {
    if (net::ClassifyPointer(item.dest.data()) == net::MemoryKind::kDevice) {
      KVSTASH_RETURN_IF_ERROR(net::CopyHostToDevice(item.dest.data(), staged, r.size));
    } else {
      std::memcpy(item.dest.data(), staged, r.size);  // the documented staging copy
    }
  }
  return static_cast<size_t>(r.size);
}

Result<std::vector<Result<size_t>>> Client::GetBatch(std::span<const GetItem> items) {
  Impl& im = *impl_;
  MutexLock lock(&im.mu);
  auto deadline = im.Deadline();
  KVSTASH_RETURN_IF_ERROR(im.EnsureConnected(deadline));
  std::vector<Result<size_t>> out;
  out.reserve(items.size());
  size_t max = im.conn->limits().max_batch_keys;
  // Chunks bounded by the server's batch limit and by the staging buffer.
  size_t begin = 0;
  size_t staging = 0;
  for (size_t i = 0; i <= items.size(); ++i) {
    size_t need = 0;
    if (i < items.size() && !im.GetAsMessage(items[i].dest) &&
        im.registry.Find(items[i].dest.data(), items[i].dest.size()) == nullptr) {
      need = AlignUp(std::min<size_t>(items[i].dest.size(), im.options.max_staging_bytes));
    }
    bool full = i - begin == max || staging + need > im.options.max_staging_bytes;
    if (i > begin && (i == items.size() || full)) {
      KVSTASH_ASSIGN_OR_RETURN(auto part, im.GetChunk(items.subspan(begin, i - begin), deadline));
      for (auto& r : part) out.push_back(std::move(r));
      begin = i;
      staging = 0;
    }
    staging += need;
  }
  return out;
}

}  // namespace kvstash
