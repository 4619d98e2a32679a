// ServerWorker: the Get path. For every hit, a one-sided RMA write (ucp_put_nbx) moves the block
// into the client's registered buffer (or, for a client on this host whose buffer is a shared
// segment mapped here, one memcpy: RemoteBuffer::mapped): from the arena (DRAM pin; at once) or
// from a slice of the worker's registered bounce memory (flash pin) once the reader threads
// have read it there (server_flash_reader.h), so the event loop never waits for the device and
// the flash reads of every Get in flight overlap. A Get's flash hits are cut into chunks spread
// over the reader threads; each chunk is written and flushed as soon as it is read, so one
// Get's reads, checksums and transfers overlap. Only a flush's completion proves the bytes
// reached the client (an RMA write's local completion does not): a chunk's bounce slice is
// freed after its flush, and the reply goes out after every chunk's flush and the flush of
// the DRAM writes. A flash pin is released by the reader as soon as its block is in the slice:
// it guards the device region, which the write never reads. A client buffer mapped here (same
// host, shared memory) needs no slice: the reader reads the block straight into it (the device
// DMAs there when it is 4 KiB aligned; RegionStore copies it in otherwise) and verifies it
// there; the Get holds the mapping (its RemoteKey) until it is done, whatever the client
// unregisters meanwhile.
//
// Items asked for with kPayloadBufferId (the client's choice where its endpoint has no native
// RMA lane) are sent as payload active messages from the same memory instead: a rendezvous
// over TCP is received by the client straight into its memory (kernel copies only), where an
// emulated RMA write would copy every byte into and out of bounce segments on both sides. The
// memory (pin or slice) is held until the send completes, which, unlike an RMA write's local
// completion, means the client has the bytes; the reply waits for every send as for the
// flushes.
//
// Who holds what until when is one mechanism, GetCompletion (server_worker.h): the Get and each
// of its chunks are counted references, held by every flush and send in flight for them; the
// last reference releases what they hold and, for the Get, sends the reply.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "common/logging.h"
#include "net/server/server_worker.h"
#include "net/ucx/ucx_status.h"

namespace kvstash::net {

// ---- The completion mechanism --------------------------------------------------------------

ServerWorker::GetRef ServerWorker::GetCompletion::NewGet(ServerWorker* worker,
                                                         std::shared_ptr<Connection> conn,
                                                         const Header& h, size_t items) {
  GetRef get(new GetCompletion(worker, std::move(conn), GetRef()));
  get->header = h;
  get->reply.items.reserve(items);
  get->payload_headers.resize(items);
  get->conn->AddInFlight(1);
  ++worker->gets_in_flight_;
  return get;
}

ServerWorker::GetRef ServerWorker::GetCompletion::NewChunk(GetRef get, BounceArena::Slice slice) {
  ServerWorker* worker = get->worker;
  std::shared_ptr<Connection> conn = get->conn;
  GetRef chunk(new GetCompletion(worker, std::move(conn), std::move(get)));
  chunk->slice = slice;
  return chunk;
}

ServerWorker::GetCompletion::~GetCompletion() {
  if (slice.bytes > 0) worker->bounce_->Free(slice);
  if (parent) {  // a chunk: its Get finishes once every chunk (and its own transfers) did
    if (!failure.ok()) parent->Fail(std::move(failure));
    return;
  }
  --worker->gets_in_flight_;
  conn->AddInFlight(-1);
  // Release before replying: the client may reuse (or delete) the block at once.
  pins.clear();
  flash.clear();
  if (!failure.ok()) {
    // The client is gone or broken: nothing was proven delivered, send nothing.
    Bump(worker->counters_.get_write_errors);
    return;
  }
  if (!conn->alive()) return;
  conn->SendReply(EncodeReply(header.opcode, header.request_id, Status::Ok(), reply));
}

ucp_request_param_t ServerWorker::TransferParams(GetCompletion& c, ucp_mem_h memh) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.send = &ServerWorker::OnTransferDone;
  p.user_data = &c;  // the reference Track takes if the request is in flight
  if (memh != nullptr) {
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    p.memh = memh;
  }
  return p;
}

Status ServerWorker::Track(GetCompletion& c, ucs_status_ptr_t req, std::string_view call) {
  if (UCS_PTR_IS_ERR(req)) return UcsToStatus(UCS_PTR_STATUS(req), call);
  if (req != nullptr) GetRef(&c).Leak();  // in flight: OnTransferDone takes it back
  return Status::Ok();
}

void ServerWorker::OnTransferDone(void* request, ucs_status_t status, void* user_data) {
  GetRef c = GetRef::Adopt(static_cast<GetCompletion*>(user_data));
  ucp_request_free(request);
  if (status != UCS_OK) c->Fail(UcsToStatus(status, "Get transfer"));
  ServerWorker* worker = c->worker;
  worker->completed_.push_back(std::move(c));  // not finished inside a UCX callback
}

void ServerWorker::Flush(GetCompletion& c) {
  ucp_request_param_t p = TransferParams(c, nullptr);
  Status s = Track(c, ucp_ep_flush_nbx(c.conn->ep()->get(), &p), "ucp_ep_flush_nbx");
  if (!s.ok()) c.Fail(std::move(s));
}

void ServerWorker::FinishGets() {
  while (!completed_.empty()) {
    std::vector<GetRef> done;
    done.swap(completed_);
    done.clear();      // chunks free their bounce memory; finished Gets reply
    PumpFlashReads();  // bounce memory was freed; a dead connection's Gets come back here
  }
}

// ---- Writing hits to the client ------------------------------------------------------------

Status ServerWorker::RmaWrite(Connection& c, std::span<const std::byte> src, ucp_mem_h memh,
                              const RemoteBuffer& buf, uint64_t offset) {
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_MEMH;
  p.memh = memh;
  ucs_status_ptr_t req =
      ucp_put_nbx(c.ep()->get(), src.data(), src.size(), buf.address + offset, buf.rkey->get(), &p);
  if (UCS_PTR_IS_ERR(req)) {
    Bump(counters_.get_write_errors);
    return UcsToStatus(UCS_PTR_STATUS(req), "ucp_put_nbx");
  }
  if (req != nullptr) ucp_request_free(req);  // completion is covered by the flush
  return Status::Ok();
}

Status ServerWorker::SendPayload(GetCompletion& get, size_t item, std::span<const std::byte> src,
                                 ucp_mem_h memh, GetCompletion& holder) {
  auto& header = get.payload_headers[item];
  header = EncodePayloadHeader({get.header.request_id, static_cast<uint32_t>(item)});
  ucp_request_param_t p = TransferParams(holder, memh);
  ucs_status_ptr_t req = ucp_am_send_nbx(get.conn->ep()->get(), kPayloadAmId, header.data(),
                                         header.size(), src.data(), src.size(), &p);
  Status s = Track(holder, req, "ucp_am_send_nbx");
  if (!s.ok()) {
    Bump(counters_.get_write_errors);
    return s;
  }
  Bump(counters_.get_bytes_messages, src.size());
  return Status::Ok();
}

Status ServerWorker::WriteDramToClient(Connection& c, const BlockPin& pin, const RemoteBuffer& buf,
                                       uint64_t offset) {
  const std::byte* src = c.store()->arena_base() + pin.arena_offset().value();
  if (buf.mapped != nullptr) {  // same host, shared memory: one copy, no transport
    std::memcpy(buf.mapped + offset, src, pin.size());
    Bump(counters_.get_bytes_dram, pin.size());
    Bump(counters_.get_bytes_mapped, pin.size());
    Bump(counters_.dram_payload_memcpy_bytes, pin.size());
    return Status::Ok();
  }
  KVSTASH_RETURN_IF_ERROR(RmaWrite(c, {src, pin.size()}, c.arena()->get(), buf, offset));
  Bump(counters_.get_bytes_dram, pin.size());
  return Status::Ok();
}

Status ServerWorker::WriteFlashToClient(GetCompletion& chunk, size_t item, std::span<std::byte> src,
                                        const Status& read, bool* rma_writes) {
  GetCompletion& get = chunk.Root();
  Connection& c = *get.conn;
  if (!c.alive()) return Status::Unavailable("client gone");  // no write, no reply
  if (!read.ok()) {
    if (read.code() == StatusCode::kUnavailable) Bump(counters_.flash_reads_unavailable);
    return read;
  }
  const GetCompletion::FlashItem& f = get.flash[item];
  if (f.direct != nullptr) {  // read straight into the client's mapped buffer: nothing to move
    Bump(counters_.get_bytes_flash, src.size());
    Bump(counters_.get_bytes_mapped, src.size());
    Bump(counters_.get_bytes_flash_direct, src.size());
    return Status::Ok();
  }
  if (f.buffer_id == kPayloadBufferId) {
    KVSTASH_RETURN_IF_ERROR(SendPayload(get, f.reply_index, src, bounce_->memh(), chunk));
    Bump(counters_.get_bytes_flash, src.size());
    return Status::Ok();
  }
  // Looked up again: the client may have unregistered the buffer while the read ran.
  const RemoteBuffer* buf = c.FindBuffer(f.buffer_id);
  if (buf == nullptr || !buf->Contains(f.offset, src.size())) {
    return Status::InvalidArgument("buffer unregistered while the block was read");
  }
  if (buf->mapped != nullptr) {
    std::memcpy(buf->mapped + f.offset, src.data(), src.size());
    Bump(counters_.get_bytes_flash, src.size());
    Bump(counters_.get_bytes_mapped, src.size());
    return Status::Ok();
  }
  KVSTASH_RETURN_IF_ERROR(RmaWrite(c, src, bounce_->memh(), *buf, f.offset));
  *rma_writes = true;
  Bump(counters_.get_bytes_flash, src.size());
  return Status::Ok();
}

void ServerWorker::SetItemStatus(GetCompletion& get, size_t index, const Status& s) {
  get.reply.items[index].status = s.code();
  CountKeyStatus(s.code());
  if (!s.ok() && get.conn->alive()) {  // a lost client is logged when its connection closes
    KVSTASH_LOG_EVERY_N_SEC(warn, 10, "connection {}: Get item not served: {}", get.conn->id(),
                            s.ToString());
  }
}

// ---- Serving a Get -------------------------------------------------------------------------

void ServerWorker::ServeGetItem(GetCompletion& get, const GetRequest::Item& it, bool* dram_writes) {
  Connection& c = *get.conn;
  size_t index = get.reply.items.size();
  GetReply::Item& out = get.reply.items.emplace_back();
  const bool payload = it.buffer_id == kPayloadBufferId;
  const RemoteBuffer* buf = payload ? nullptr : c.FindBuffer(it.buffer_id);
  Result<BlockPin> pin = Status::InvalidArgument("bad buffer range");
  if (payload || (buf != nullptr && buf->Contains(it.offset, it.capacity))) {
    pin = c.store()->Lookup(c.ns(), it.key);
    if (pin.status().Is(StatusCode::kNotFound)) Bump(counters_.get_misses);
    if (pin.ok()) Bump(counters_.get_hits);
  }
  if (!pin.ok()) {
    out.status = pin.status().code();
    CountKeyStatus(out.status);
    return;
  }
  out.size = pin->size();
  if (pin->size() > it.capacity) {
    out.status = StatusCode::kInvalidArgument;  // too small; `size` tells the client
    CountKeyStatus(out.status);
  } else if (!c.alive()) {
    out.status = StatusCode::kUnavailable;
    CountKeyStatus(out.status);
  } else if (pin->tier() == Tier::kDram && payload) {
    const std::byte* src = c.store()->arena_base() + pin->arena_offset().value();
    Status s = SendPayload(get, index, {src, pin->size()}, c.arena()->get(), get);
    if (s.ok()) {
      Bump(counters_.get_bytes_dram, pin->size());
      get.pins.push_back(std::move(pin).value());  // held until the send completed
    }
    SetItemStatus(get, index, s);
  } else if (pin->tier() == Tier::kDram) {
    Status s = WriteDramToClient(c, *pin, *buf, it.offset);
    if (s.ok()) {
      *dram_writes = true;
      get.pins.push_back(std::move(pin).value());  // held until the Get's flush completed
    }
    SetItemStatus(get, index, s);
  } else {  // flash: the status is set (and counted) when the read comes back
    get.flash_bytes += BounceArena::RoundUp(pin->size());
    GetCompletion::FlashItem& f = get.flash.emplace_back();
    f.reply_index = index;
    f.buffer_id = it.buffer_id;
    f.offset = it.offset;
    f.size = pin->size();
    f.pin = std::move(pin).value();
    if (buf != nullptr && buf->mapped != nullptr) {
      f.direct = buf->mapped + it.offset;
      f.mapping = buf->rkey;
    }
  }
}

Status ServerWorker::OnGet(const std::shared_ptr<Connection>& conn, const Header& h,
                           std::span<const std::byte> body) {
  Bump(counters_.requests_get);
  GetRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  GetRef get = GetCompletion::NewGet(this, conn, h, req.items.size());
  bool dram_writes = false;
  for (const auto& it : req.items) ServeGetItem(*get, it, &dram_writes);
  // One flush for the DRAM writes, now: each chunk flushes its own writes after its read.
  if (dram_writes && conn->alive()) Flush(*get);
  if (get->flash.empty()) {
    completed_.push_back(std::move(get));  // finishes once its flush and sends completed
  } else {
    flash_waiting_.push_back(std::move(get));
    PumpFlashReads();
  }
  return Status::Ok();
}

// ---- Flash hits ----------------------------------------------------------------------------

Status ServerWorker::EnsureFlashResources() {
  if (bounce_ == nullptr) {
    // Never less than one block of the largest size, so every Get can make progress.
    uint64_t bytes = std::max(shared_->options.flash_bounce_bytes,
                              BounceArena::RoundUp(shared_->options.max_value_bytes));
    KVSTASH_ASSIGN_OR_RETURN(bounce_, BounceArena::Create(*shared_->context, bytes));
  }
  if (reader_ == nullptr) {
    UcxWorker* w = worker_.get();
    reader_ = std::make_unique<FlashReader>(shared_->options.flash_readers, [w] { w->Signal(); });
  }
  return Status::Ok();
}

void ServerWorker::PumpFlashReads() {
  while (!flash_waiting_.empty()) {
    GetCompletion& get = *flash_waiting_.front();
    Status setup = get.conn->alive() ? EnsureFlashResources() : Status::Unavailable("gone");
    if (!setup.ok()) {
      // The client is gone, or there is no bounce memory: the remaining flash keys fail.
      for (size_t i = get.flash_next; i < get.flash.size(); ++i) {
        StatusCode code = get.conn->alive() ? setup.code() : StatusCode::kUnavailable;
        get.reply.items[get.flash[i].reply_index].status = code;
        CountKeyStatus(code);
      }
      KVSTASH_LOG_EVERY_N_SEC(warn, 10, "flash hits not served: {}", setup.ToString());
      get.flash_next = get.flash.size();
      completed_.push_back(std::move(flash_waiting_.front()));
      flash_waiting_.pop_front();
      continue;
    }
    // The next chunk: the Get's flash bytes spread over the reader threads (so its chunks are
    // read, checksummed and written in parallel), at most a quarter of the arena (so a huge
    // batch does not hold all of it and Gets of other connections still overlap), at least
    // one item.
    const uint64_t quarter =
        std::max(bounce_->capacity() / 4, BounceArena::RoundUp(shared_->options.max_value_bytes));
    const uint64_t readers = std::max<uint32_t>(1, shared_->options.flash_readers);
    const uint64_t limit = std::min(quarter, (get.flash_bytes + readers - 1) / readers);
    uint64_t bytes = 0;
    uint64_t bounce_bytes = 0;  // of `bytes`: items not read straight into a mapped buffer
    size_t end = get.flash_next;
    while (end < get.flash.size()) {
      uint64_t b = BounceArena::RoundUp(get.flash[end].size);
      if (end > get.flash_next && bytes + b > limit) break;
      bytes += b;
      if (get.flash[end].direct == nullptr) bounce_bytes += b;
      ++end;
    }
    std::optional<BounceArena::Slice> slice = BounceArena::Slice{};
    if (bounce_bytes > 0) slice = bounce_->Allocate(bounce_bytes);
    if (!slice) return;  // a finished chunk will free bounce memory and pump again
    auto read = std::make_unique<ChunkRead>();
    read->chunk = GetCompletion::NewChunk(flash_waiting_.front(), *slice);
    read->first = get.flash_next;
    read->store = get.conn->store();
    std::span<std::byte> mem = bounce_->bytes(*slice);
    uint64_t at = 0;
    for (size_t i = get.flash_next; i < end; ++i) {
      GetCompletion::FlashItem& f = get.flash[i];
      read->pins.push_back(std::move(f.pin));
      if (f.direct != nullptr) {
        // Into the client's mapped buffer: the device writes there directly when it is 4 KiB
        // aligned and the size is a multiple of 4 KiB; otherwise the reader copies it in.
        read->dests.emplace_back(f.direct, f.size);
        continue;
      }
      // The whole 4 KiB-rounded slot: the flash read then lands directly in this registered
      // memory (RegionStore reads into an aligned destination that holds the value extent).
      read->dests.push_back(mem.subspan(at, BounceArena::RoundUp(f.size)));
      at += BounceArena::RoundUp(f.size);
    }
    get.flash_next = end;
    if (get.flash_next == get.flash.size()) {
      completed_.push_back(std::move(flash_waiting_.front()));  // its chunks hold it now
      flash_waiting_.pop_front();
    }
    reader_->Submit(std::move(read));
  }
}

void ServerWorker::CollectFlashReads() {
  if (reader_ == nullptr || !reader_->has_done()) return;
  for (auto& job : reader_->TakeDone()) OnFlashRead(std::move(job));
}

void ServerWorker::OnFlashRead(std::unique_ptr<FlashReader::Job> job) {
  // Every Job this worker submits is a ChunkRead (PumpFlashReads).
  ChunkRead& read = static_cast<ChunkRead&>(*job);
  GetCompletion& chunk = *read.chunk;
  GetCompletion& get = chunk.Root();
  bool rma_writes = false;
  for (size_t j = 0; j < read.size(); ++j) {
    const GetCompletion::FlashItem& f = get.flash[read.first + j];
    // The slot was 4 KiB-rounded for the read; the client gets exactly the value.
    std::span<std::byte> value = read.dests[j].first(f.size);
    Status s = WriteFlashToClient(chunk, read.first + j, value, read.results[j], &rma_writes);
    SetItemStatus(get, f.reply_index, s);
  }
  if (rma_writes && get.conn->alive()) Flush(chunk);  // else nothing to flush (or nobody to)
  completed_.push_back(std::move(read.chunk));        // finishes once its flush and sends completed
}

}  // namespace kvstash::net
