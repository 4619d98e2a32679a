// ServerWorker: handlers of the control requests (Get is in server_get.cc). Each decodes its
// body (a decode error is returned: the caller closes the connection), calls the BlockStore
// and sends exactly one reply.
#include <fmt/format.h>

#include <algorithm>

#include "common/logging.h"
#include "net/server/server_worker.h"

namespace kvstash::net {
namespace {

template <typename Body>
void Reply(Connection& c, const Header& h, const Body& body) {
  c.SendReply(EncodeReply(h.opcode, h.request_id, Status::Ok(), body));
}

void ReplyError(Connection& c, const Header& h, const Status& s) {
  c.SendReply(EncodeReply(h.opcode, h.request_id, s, EmptyReply{}));
}

}  // namespace

void ServerWorker::CountKeyStatus(StatusCode code) {
  if (code != StatusCode::kOk && code != StatusCode::kNotFound) Bump(counters_.key_errors);
}

Status ServerWorker::OnHello(Connection& c, const Header& h, std::span<const std::byte> body) {
  Bump(counters_.requests_hello);
  HelloRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  if (req.min_version > kProtocolVersion || req.max_version < kProtocolVersion) {
    Bump(counters_.request_errors);
    ReplyError(c, h,
               Status::InvalidArgument(fmt::format("server speaks version {}", kProtocolVersion)));
    return Status::Ok();
  }
  if (c.hello_done()) {  // a connection is bound to one namespace for its whole life
    Bump(counters_.request_errors);
    ReplyError(c, h, Status::PermissionDenied("permission denied: already said Hello"));
    return Status::Ok();
  }
  Result<TenantRoute> route = shared_->tenants->Authenticate(req.namespace_id, req.token);
  if (!route.ok()) {
    Bump(counters_.auth_failures);
    Bump(counters_.request_errors);
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "connection {}: {}", c.id(), route.status().message());
    ReplyError(c, h, route.status());
    return Status::Ok();
  }
  c.CompleteHello(std::move(route).value());
  HelloReply rep;
  rep.arena_address = reinterpret_cast<uint64_t>(c.arena()->address());
  rep.arena_bytes = c.arena()->length();
  rep.arena_rkey = c.arena()->packed_rkey();
  rep.limits = shared_->limits;
  Reply(c, h, rep);
  return Status::Ok();
}

Status ServerWorker::OnAllocate(Connection& c, const Header& h, std::span<const std::byte> body) {
  Bump(counters_.requests_allocate);
  AllocateRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  AllocateReply rep;
  rep.items.resize(req.items.size());
  int64_t now = shared_->options.clock->NowNanos();
  for (size_t i = 0; i < req.items.size(); ++i) {
    auto a = c.store()->Allocate(c.ns(), req.items[i].key, req.items[i].size);
    auto& out = rep.items[i];
    if (!a.ok()) {
      out.status = a.status().code();
      CountKeyStatus(out.status);
      continue;
    }
    Bump(counters_.keys_allocated);
    out.offset = a->offset.value();
    int64_t left_ms = (a->lease_deadline_ns - now) / 1'000'000;
    out.lease_ms = static_cast<uint32_t>(std::clamp<int64_t>(left_ms, 0, UINT32_MAX));
  }
  Reply(c, h, rep);
  return Status::Ok();
}

Status ServerWorker::OnCommit(Connection& c, const Header& h, std::span<const std::byte> body) {
  Bump(counters_.requests_commit);
  CommitRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  StatusListReply rep;
  for (const auto& it : req.items) {
    std::optional<Checksum> sum;
    if (it.checksum) sum = Checksum(*it.checksum);
    Status s = c.store()->Commit(c.ns(), it.key, ArenaOffset(it.offset), sum);
    if (s.ok()) Bump(counters_.keys_committed);
    CountKeyStatus(s.code());
    rep.statuses.push_back(s.code());
  }
  Reply(c, h, rep);
  return Status::Ok();
}

Status ServerWorker::OnAbort(Connection& c, const Header& h, std::span<const std::byte> body) {
  Bump(counters_.requests_abort);
  AbortRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  StatusListReply rep;
  for (const auto& it : req.items) {
    Status s = c.store()->Abort(c.ns(), it.key, ArenaOffset(it.offset));
    CountKeyStatus(s.code());
    rep.statuses.push_back(s.code());
  }
  Reply(c, h, rep);
  return Status::Ok();
}

Status ServerWorker::OnRegisterBuffer(Connection& c, const Header& h,
                                      std::span<const std::byte> body) {
  Bump(counters_.requests_register_buffer);
  RegisterBufferRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  // A key this endpoint cannot unpack is malformed input: close the connection.
  KVSTASH_ASSIGN_OR_RETURN(auto rkey, RemoteKey::Unpack(c.ep()->get(), req.rkey));
  // With shared arenas on, a same-host client's shared buffer is mapped once; its pages fault
  // in on first use (populating a GiB here would stall this worker for ~250 ms). Never onto
  // one of our own arenas: a client could otherwise have blocks copied over other blocks.
  std::byte* mapped = nullptr;
  uint64_t segment = 0;
  if (shared_->options.shared_arenas != nullptr) {
    mapped = rkey->Map(req.address, req.length, /*populate=*/false, &segment);
    const auto& own = shared_->own_segments;
    if (mapped != nullptr && std::find(own.begin(), own.end(), segment) != own.end()) {
      KVSTASH_LOG_EVERY_N_SEC(warn, 10, "a client buffer maps onto the server's arena; not mapped");
      mapped = nullptr;
    }
  }
  auto id = c.AddBuffer(RemoteBuffer{req.address, req.length, std::move(rkey), mapped});
  if (!id.ok()) {
    Bump(counters_.request_errors);
    ReplyError(c, h, id.status());
    return Status::Ok();
  }
  Reply(c, h, RegisterBufferReply{*id});
  return Status::Ok();
}

Status ServerWorker::OnUnregisterBuffer(Connection& c, const Header& h,
                                        std::span<const std::byte> body) {
  Bump(counters_.requests_unregister_buffer);
  UnregisterBufferRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  Status s = c.RemoveBuffer(req.buffer_id);
  if (!s.ok()) {
    Bump(counters_.request_errors);
    ReplyError(c, h, s);
  } else {
    Reply(c, h, EmptyReply{});
  }
  return Status::Ok();
}

Status ServerWorker::OnKeys(Connection& c, const Header& h, std::span<const std::byte> body) {
  KeysRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  BlockStore& store = *c.store();
  if (h.opcode == Opcode::kExists) {
    Bump(counters_.requests_exists);
    ExistsReply rep;
    store.ExistsBatch(c.ns(), req.keys, &rep.present);
    Reply(c, h, rep);
  } else if (h.opcode == Opcode::kLongestPrefix) {
    Bump(counters_.requests_longest_prefix);
    size_t n = store.LongestPrefix(c.ns(), req.keys);
    Reply(c, h, LongestPrefixReply{static_cast<uint32_t>(n)});
  } else {
    Bump(counters_.requests_delete);
    StatusListReply rep;
    for (auto k : req.keys) {
      Status s = store.Delete(c.ns(), k);
      CountKeyStatus(s.code());
      rep.statuses.push_back(s.code());
    }
    Reply(c, h, rep);
  }
  return Status::Ok();
}

Status ServerWorker::OnGoodbye(Connection& c, const Header& h, std::span<const std::byte> body) {
  GoodbyeRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  c.set_said_goodbye();
  Reply(c, h, EmptyReply{});
  return Status::Ok();
}

Status ServerWorker::OnStats(Connection& c, const Header& h, std::span<const std::byte> body) {
  Bump(counters_.requests_stats);
  StatsRequest req;
  KVSTASH_RETURN_IF_ERROR(DecodeBody(body, shared_->limits, &req));
  StatsReply rep;
  rep.entries = shared_->stats_pairs(c.store());
  if (rep.entries.size() > Limits::kMaxStatsEntries) rep.entries.resize(Limits::kMaxStatsEntries);
  Reply(c, h, rep);
  return Status::Ok();
}

}  // namespace kvstash::net
