#include "tools/peers/peer_redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cstring>

namespace kvstash {
namespace {

redisContext* ConnectTo(const RedisServer& server, const std::string& transport) {
  timeval tv{5, 0};
  return transport == "unix" ? redisConnectUnixWithTimeout(server.socket_path().c_str(), tv)
                             : redisConnectWithTimeout("127.0.0.1", server.port(), tv);
}

// Runs one command and returns its reply as a string (error replies become Status).
Result<std::string> Command(redisContext* c, const char* cmd) {
  auto* r = static_cast<redisReply*>(redisCommand(c, cmd));
  if (r == nullptr) return Status::Unavailable(std::string("redis: ") + c->errstr);
  std::string out = r->str ? std::string(r->str, r->len) : std::to_string(r->integer);
  bool error = r->type == REDIS_REPLY_ERROR;
  freeReplyObject(r);
  if (error) return Status::Internal(std::string("redis ") + cmd + ": " + out);
  return out;
}

}  // namespace

Result<std::unique_ptr<RedisServer>> RedisServer::Start(const std::string& redis_server,
                                                        const std::string& dir,
                                                        uint64_t maxmemory_bytes) {
  std::unique_ptr<RedisServer> s(new RedisServer());
  KVSTASH_ASSIGN_OR_RETURN(s->port_, FreeLoopbackPort());
  s->socket_ = dir + "/redis.sock";
  std::vector<std::string> argv = {redis_server,
                                   "--port",
                                   std::to_string(s->port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--protected-mode",
                                   "yes",
                                   "--unixsocket",
                                   s->socket_,
                                   "--unixsocketperm",
                                   "700",
                                   "--dir",
                                   dir,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--maxmemory",
                                   std::to_string(maxmemory_bytes),
                                   "--maxmemory-policy",
                                   "noeviction",
                                   "--logfile",
                                   ""};
  KVSTASH_ASSIGN_OR_RETURN(s->process_, ChildProcess::Spawn(argv, {}, dir + "/redis.log"));
  KVSTASH_RETURN_IF_ERROR(WaitUntilReady(
      s->process_,
      [&] {
        redisContext* c = ConnectTo(*s, "unix");
        bool ok = c != nullptr && c->err == 0 && Command(c, "PING").ok();
        if (ok) {
          Result<std::string> info = Command(c, "INFO server");
          size_t at = info.ok() ? info->find("redis_version:") : std::string::npos;
          if (at != std::string::npos)
            s->version_ = info->substr(at + 14, info->find('\r', at) - at - 14);
        }
        if (c != nullptr) redisFree(c);
        return ok;
      },
      std::chrono::seconds(10), "redis-server"));
  return s;
}

Result<std::unique_ptr<RedisPeer>> RedisPeer::Connect(const RedisServer& server,
                                                      const std::string& transport) {
  std::unique_ptr<RedisPeer> p(new RedisPeer());
  p->ctx_ = ConnectTo(server, transport);
  if (p->ctx_ == nullptr || p->ctx_->err != 0) {
    return Status::Unavailable("redis connect (" + transport +
                               "): " + (p->ctx_ ? p->ctx_->errstr : "out of memory"));
  }
  // Keep the reader's buffer between replies: the default (16 KiB) frees and regrows it for
  // every large block.
  p->ctx_->reader->maxbuf = 0;
  return p;
}

RedisPeer::~RedisPeer() {
  if (ctx_ != nullptr) redisFree(ctx_);
  FreeAligned(dest_);
}

Status RedisPeer::Prepare(const BlockSet&) { return Status::Ok(); }

Status RedisPeer::PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) {
  for (uint32_t id : ids) {
    const std::string& k = set.key(id);
    std::span<const std::byte> v = set.block(id);
    if (redisAppendCommand(ctx_, "SET %b %b", k.data(), k.size(), v.data(), v.size()) != REDIS_OK) {
      return Status::Unavailable(std::string("redis append: ") + ctx_->errstr);
    }
  }
  Status first = Status::Ok();
  for (size_t i = 0; i < ids.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK) {
      return Status::Unavailable(std::string("redis SET: ") + ctx_->errstr);
    }
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_ERROR && first.ok()) {
      first = Status::Internal("redis SET: " + std::string(r->str, r->len));
    }
    freeReplyObject(r);
  }
  return first;
}

Status RedisPeer::GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) {
  for (uint32_t id : ids) {
    const std::string& k = set.key(id);
    if (redisAppendCommand(ctx_, "GET %b", k.data(), k.size()) != REDIS_OK) {
      return Status::Unavailable(std::string("redis append: ") + ctx_->errstr);
    }
  }
  Status first = Status::Ok();
  uint64_t b = set.block_bytes();
  for (size_t i = 0; i < ids.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK) {
      return Status::Unavailable(std::string("redis GET: ") + ctx_->errstr);
    }
    auto* r = static_cast<redisReply*>(reply);
    if (r->type != REDIS_REPLY_STRING || r->len != b) {
      if (first.ok())
        first = Status::NotFound("redis GET " + set.key(ids[i]) + ": miss or bad size");
    } else {
      std::memcpy(dest + i * b, r->str, b);
    }
    freeReplyObject(r);
  }
  return first;
}

Status RedisPeer::Clear(const BlockSet&) { return Command(ctx_, "FLUSHALL").status(); }

Result<std::byte*> RedisPeer::DestBuffer(uint64_t bytes) {
  if (bytes > dest_bytes_) {
    FreeAligned(dest_);
    dest_ = AllocAligned(bytes);
    if (dest_ == nullptr) return Status::ResourceExhausted("destination buffer");
    dest_bytes_ = bytes;
  }
  return dest_;
}

}  // namespace kvstash
