#include "cluster/etcd_client.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/mutex.h"

namespace kvstash::cluster {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A watch stream is idle while nothing changes; the gateway then sends only progress
// notifications, every 10 minutes by default (--experimental-watch-progress-notify-interval).
// The read timeout must outlast that interval or every idle watch would break; a dead peer host
// is noticed sooner by TCP keepalive (kKeepAlive*), a killed etcd at once (its kernel closes the
// connection).
constexpr auto kWatchReadTimeout = std::chrono::minutes(11);
constexpr int kKeepAliveIdleSec = 5, kKeepAliveIntervalSec = 2, kKeepAliveProbes = 3;
constexpr size_t kMaxIdleConnections = 4;       // per endpoint
constexpr size_t kMaxWatchMessage = 64u << 20;  // a larger "object" is a broken stream
constexpr size_t kMaxErrorText = 300;

// ---- Bytes fields: base64 (RFC 4648, padded, as Go's encoding/json writes []byte) ----------

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) v = (v << 8) | (j < n ? static_cast<uint8_t>(in[i + j]) : 0u);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kBase64[(v >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// False for a character outside the alphabet, data after padding or a length not a multiple
// of 4.
bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    int v = Base64Value(c);
    if (v < 0 || pad > 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return pad <= 2;
}

// etcd's prefix rule: the range end is the prefix with its last byte below 0xff incremented
// (0xff bytes after it dropped); "\0" (every key from the start) when there is no such byte.
std::string PrefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
  return end;
}

// ---- Reply fields: proto3 JSON omits zero values, and int64 travel as strings --------------

std::string Brief(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxErrorText) text = text.substr(0, kMaxErrorText) + "...";
  return text;
}

Status BadReply(const Json& reply, std::string_view what) {
  return Status::Internal("unexpected etcd reply (" + std::string(what) + "): " + Brief(reply));
}

bool ReadInt(const Json& obj, const char* name, int64_t* out) {
  *out = 0;
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return true;
  }
  if (!it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool Flag(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::string Text(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool ReadBytes(const Json& obj, const char* name, std::string* out) {
  out->clear();
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  return it->is_string() && Base64Decode(it->get_ref<const std::string&>(), out);
}

bool ReadKeyValue(const Json& j, EtcdKeyValue* kv) {
  return j.is_object() && ReadBytes(j, "key", &kv->key) && ReadBytes(j, "value", &kv->value) &&
         ReadInt(j, "create_revision", &kv->create_revision) &&
         ReadInt(j, "mod_revision", &kv->mod_revision) && ReadInt(j, "lease", &kv->lease);
}

bool ReadRevision(const Json& reply, int64_t* revision) {
  auto header = reply.find("header");
  *revision = 0;
  return header == reply.end() || ReadInt(*header, "revision", revision);
}

Result<EtcdRange> ReadRange(const Json& reply) {
  EtcdRange range;
  if (!ReadRevision(reply, &range.revision)) return BadReply(reply, "header");
  auto kvs = reply.find("kvs");
  if (kvs == reply.end()) return range;
  if (!kvs->is_array()) return BadReply(reply, "kvs");
  for (const Json& item : *kvs) {
    if (!ReadKeyValue(item, &range.kvs.emplace_back())) return BadReply(reply, "kv");
  }
  return range;
}

// An error object, as the gateway writes it for a unary call ({"error": "...", "code": 5,
// "message": "..."}) or inside a stream ({"error": {"grpc_code": 5, "message": "..."}}).
// gRPC NOT_FOUND (5) is how etcd says "lease not found"; UNAVAILABLE (14) and
// DEADLINE_EXCEEDED (4) mean this member cannot serve now, so another endpoint may.
Status GatewayError(const Json& reply) {
  auto nested = reply.find("error");
  const Json& e = nested != reply.end() && nested->is_object() ? *nested : reply;
  int64_t code = 0, grpc_code = 0;
  if (!ReadInt(e, "code", &code) || !ReadInt(e, "grpc_code", &grpc_code))
    return BadReply(reply, "error code");
  if (code == 0) code = grpc_code;
  if (code == 0) return BadReply(reply, "error without a code");
  std::string text = "etcd: " + Text(e, "message") + " (gRPC code " + std::to_string(code) + ")";
  if (code == 5) return Status::NotFound(text);
  if (code == 4 || code == 14) return Status::Unavailable(text);
  return Status::Internal(text);
}

// ---- Endpoints --------------------------------------------------------------------------------

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

Result<HostPort> SplitEndpoint(std::string_view ep) {
  std::string_view original = ep;
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("etcd endpoint \"" + std::string(original) +
                                   "\": " + std::string(why));
  };
  if (ep.starts_with("http://")) ep.remove_prefix(7);
  if (ep.starts_with("https://")) return bad("TLS is not supported");
  HostPort hp;
  size_t colon = ep.rfind(':');
  if (colon == std::string_view::npos) return bad("expected host:port");
  std::string_view host = ep.substr(0, colon), port = ep.substr(colon + 1);
  if (host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address goes in brackets, e.g. [::1]:2379");
  }
  if (host.empty() || host.find_first_of("[]/ ") != std::string_view::npos) return bad("bad host");
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || hp.port < 1 ||
      hp.port > 65535)
    return bad("bad port");
  hp.host = std::string(host);
  return hp;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

}  // namespace

Result<EtcdOptions> EtcdOptions::Parse(std::string_view endpoints) {
  EtcdOptions options;
  while (true) {
    size_t comma = endpoints.find(',');
    std::string ep = Trim(endpoints.substr(0, comma));
    if (ep.starts_with("http://")) ep.erase(0, 7);
    KVSTASH_RETURN_IF_ERROR(SplitEndpoint(ep).status());
    options.endpoints.push_back(std::move(ep));
    if (comma == std::string_view::npos) break;
    endpoints.remove_prefix(comma + 1);
  }
  return options;
}

Status EtcdOptions::Validate() const {
  if (endpoints.empty()) return Status::InvalidArgument("etcd: no endpoint given");
  for (const std::string& ep : endpoints) KVSTASH_RETURN_IF_ERROR(SplitEndpoint(ep).status());
  if (timeout <= milliseconds(0)) return Status::InvalidArgument("etcd: timeout must be > 0");
  return Status::Ok();
}

// ---- EtcdClient -------------------------------------------------------------------------------

namespace {

// One endpoint's idle keep-alive connections. A call takes one (or opens a new one) and gives
// it back when the reply was read, so concurrent calls never share a connection.
class ConnectionPool {
 public:
  ConnectionPool(HostPort address, std::string name)
      : address_(std::move(address)), name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  std::unique_ptr<httplib::Client> Take() {
    {
      MutexLock lock(&mu_);
      if (!idle_.empty()) {
        auto client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    auto client = std::make_unique<httplib::Client>(address_.host, address_.port);
    client->set_keep_alive(true);
    return client;
  }
  void Give(std::unique_ptr<httplib::Client> client) {
    MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
  }

 private:
  const HostPort address_;
  const std::string name_;
  Mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_ ABSL_GUARDED_BY(mu_);
};

// The body of a gateway reply: the JSON for 200, the error it names otherwise.
Result<Json> DecodeReply(int http_status, const std::string& body) {
  Json reply = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) {
    return Status::Internal("etcd gateway HTTP " + std::to_string(http_status) + ": " +
                            body.substr(0, kMaxErrorText));
  }
  if (http_status == 200 && !reply.contains("error")) return reply;
  return GatewayError(reply);
}

}  // namespace

struct EtcdClient::Impl {
  std::vector<std::unique_ptr<ConnectionPool>> pools;  // one per endpoint, in options order
  std::atomic<size_t> preferred{0};                    // the endpoint that answered last
  milliseconds timeout{0};

  Result<Json> Call(const char* path, const Json& request);
  Result<Json> CallOne(ConnectionPool& pool, const char* path, const std::string& body,
                       milliseconds budget);
};

// Any reply, even an error, means the endpoint works; only Unavailable (no answer, or a member
// that cannot serve) moves on to the next. The whole call, fail-over included, fits in
// `timeout`.
Result<Json> EtcdClient::Impl::Call(const char* path, const Json& request) {
  const std::string body = request.dump();
  const auto deadline = Clock::now() + timeout;
  const size_t first = preferred.load(std::memory_order_relaxed);
  Status last;
  for (size_t i = 0; i < pools.size(); ++i) {
    auto budget = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (budget < milliseconds(1)) break;
    size_t index = (first + i) % pools.size();
    Result<Json> reply = CallOne(*pools[index], path, body, budget);
    if (reply.ok() || !reply.status().Is(StatusCode::kUnavailable)) {
      preferred.store(index, std::memory_order_relaxed);
      return reply;
    }
    last = reply.status();
  }
  return Status::Unavailable("no etcd endpoint answered " + std::string(path) + " within " +
                             std::to_string(timeout.count()) + " ms: " + last.message());
}

Result<Json> EtcdClient::Impl::CallOne(ConnectionPool& pool, const char* path,
                                       const std::string& body, milliseconds budget) {
  std::unique_ptr<httplib::Client> client = pool.Take();
  client->set_connection_timeout(budget);
  client->set_read_timeout(budget);
  client->set_write_timeout(budget);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  std::string reply;
  req.content_receiver = [&reply](const char* data, size_t size, uint64_t, uint64_t) {
    reply.append(data, size);
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  if (client->send(req, res, error)) {
    pool.Give(std::move(client));
    return DecodeReply(res.status, reply);
  }
  // The gateway ends its error replies with an HTTP trailer (Grpc-Trailer-Content-Type), which
  // httplib 0.11 cannot parse: it reports a read error after the whole body arrived. Such a
  // reply is still the gateway's answer; the connection is dropped all the same.
  if (error == httplib::Error::Read && res.status >= 400 && Json::accept(reply))
    return DecodeReply(res.status, reply);
  return Status::Unavailable(pool.name() + ": " + httplib::to_string(error));
}

EtcdClient::EtcdClient(EtcdOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

EtcdClient::~EtcdClient() = default;

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdOptions options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  client->impl_->timeout = client->options_.timeout;
  for (const std::string& ep : client->options_.endpoints) {
    client->impl_->pools.push_back(std::make_unique<ConnectionPool>(*SplitEndpoint(ep), ep));
  }
  return client;
}

namespace {

Json PutRequest(std::string_view key, std::string_view value, int64_t lease) {
  Json put = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return put;
}

Json Compare(std::string_view key, const char* target, const char* field, int64_t revision) {
  return {{"key", Base64Encode(key)},
          {"target", target},
          {"result", "EQUAL"},
          {field, std::to_string(revision)}};
}

}  // namespace

Result<EtcdRange> EtcdClient::Get(std::string_view key) {
  KVSTASH_ASSIGN_OR_RETURN(Json reply, impl_->Call("/v3/kv/range", {{"key", Base64Encode(key)}}));
  return ReadRange(reply);
}

Result<EtcdRange> EtcdClient::GetPrefix(std::string_view prefix) {
  // etcd has no empty key: "\0" starts the range at the first key.
  std::string start = prefix.empty() ? std::string(1, '\0') : std::string(prefix);
  Json request = {{"key", Base64Encode(start)},
                  {"range_end", Base64Encode(PrefixRangeEnd(prefix))}};
  KVSTASH_ASSIGN_OR_RETURN(Json reply, impl_->Call("/v3/kv/range", request));
  return ReadRange(reply);
}

Status EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  return impl_->Call("/v3/kv/put", PutRequest(key, value, lease)).status();
}

Result<bool> EtcdClient::PutIfAbsent(std::string_view key, std::string_view value, int64_t lease,
                                     EtcdKeyValue* existing) {
  Json txn = {{"compare", Json::array({Compare(key, "CREATE", "create_revision", 0)})},
              {"success", Json::array({{{"request_put", PutRequest(key, value, lease)}}})},
              {"failure", Json::array({{{"request_range", {{"key", Base64Encode(key)}}}}})}};
  KVSTASH_ASSIGN_OR_RETURN(Json reply, impl_->Call("/v3/kv/txn", txn));
  if (Flag(reply, "succeeded")) return true;
  if (existing == nullptr) return false;
  // The failure branch's range read the entry that made the compare fail, in the same txn.
  auto responses = reply.find("responses");
  if (responses == reply.end() || !responses->is_array() || responses->empty() ||
      !(*responses)[0].contains("response_range"))
    return BadReply(reply, "txn range");
  KVSTASH_ASSIGN_OR_RETURN(EtcdRange range, ReadRange((*responses)[0]["response_range"]));
  if (range.kvs.empty()) return BadReply(reply, "txn range without the key");
  *existing = std::move(range.kvs[0]);
  return false;
}

Result<bool> EtcdClient::PutIfUnchanged(std::string_view key, std::string_view value,
                                        int64_t mod_revision, int64_t lease) {
  Json txn = {{"compare", Json::array({Compare(key, "MOD", "mod_revision", mod_revision)})},
              {"success", Json::array({{{"request_put", PutRequest(key, value, lease)}}})}};
  KVSTASH_ASSIGN_OR_RETURN(Json reply, impl_->Call("/v3/kv/txn", txn));
  return Flag(reply, "succeeded");
}

Status EtcdClient::Delete(std::string_view key) {
  return impl_->Call("/v3/kv/deleterange", {{"key", Base64Encode(key)}}).status();
}

Result<int64_t> EtcdClient::LeaseGrant(std::chrono::seconds ttl) {
  if (ttl < std::chrono::seconds(1))
    return Status::InvalidArgument("etcd lease TTL must be >= 1 s");
  KVSTASH_ASSIGN_OR_RETURN(Json reply,
                           impl_->Call("/v3/lease/grant", {{"TTL", std::to_string(ttl.count())}}));
  int64_t id = 0;
  if (!ReadInt(reply, "ID", &id) || id == 0) return BadReply(reply, "lease ID");
  return id;
}

// The gateway streams keepalive replies ({"result": {...}}); one request gets one. A lease
// that expired or was revoked is answered with no TTL (0), not with an error.
Result<std::chrono::seconds> EtcdClient::LeaseKeepAlive(int64_t lease) {
  KVSTASH_ASSIGN_OR_RETURN(Json reply,
                           impl_->Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}));
  auto result = reply.find("result");
  int64_t ttl = 0;
  if (result == reply.end() || !ReadInt(*result, "TTL", &ttl)) return BadReply(reply, "TTL");
  if (ttl <= 0) return Status::NotFound("etcd lease " + std::to_string(lease) + " is gone");
  return std::chrono::seconds(ttl);
}

Status EtcdClient::LeaseRevoke(int64_t lease) {
  Status s = impl_->Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}).status();
  return s.Is(StatusCode::kNotFound) ? Status::Ok() : s;
}

// ---- EtcdWatch --------------------------------------------------------------------------------

namespace {

// Splits the watch reply into its top-level JSON objects. The gateway writes one per line, but
// a read may hold part of one or several, so objects are delimited by brace depth outside
// strings, not by reads.
class JsonSplitter {
 public:
  // Appends `data`; moves each completed object's text into `*out`. False: not a sequence of
  // objects, or one is larger than kMaxWatchMessage.
  bool Feed(std::string_view data, std::vector<std::string>* out) {
    for (char c : data) {
      if (depth_ == 0) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c != '{') return false;
      }
      buf_.push_back(c);
      if (in_string_) {
        in_string_ = escape_ || c != '"';
        escape_ = !escape_ && c == '\\';
      } else if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if ((c == '}' || c == ']') && --depth_ == 0) {
        out->push_back(std::move(buf_));
        buf_.clear();
      }
      if (buf_.size() > kMaxWatchMessage) return false;
    }
    return true;
  }

 private:
  std::string buf_;  // the current object, from its '{'
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;  // the previous character inside a string was an unescaped '\'
};

void SetWatchSocketOptions(int sock) {
  int on = 1, idle = kKeepAliveIdleSec, interval = kKeepAliveIntervalSec, probes = kKeepAliveProbes;
  ::setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

bool ReadEvents(const Json& result, std::vector<EtcdEvent>* events) {
  auto list = result.find("events");
  if (list == result.end()) return true;
  if (!list->is_array()) return false;
  for (const Json& item : *list) {
    EtcdEvent& event = events->emplace_back();
    auto kv = item.find("kv");
    if (kv == item.end() || !ReadKeyValue(*kv, &event.kv)) return false;
    // proto3 JSON omits the default enum value, PUT.
    if (Text(item, "type") == "DELETE") event.type = EtcdEvent::Type::kDelete;
  }
  return true;
}

}  // namespace

// States: starting (until the gateway says "created", or every endpoint failed, or Start's
// deadline passed) -> live -> exited. `stopping` is set by the destructor or a failed Start;
// from then on no callback starts.
struct EtcdWatch::Impl {
  EtcdOptions options;
  std::string key, range_end;
  int64_t start_revision = 0;
  OnEvents on_events;
  OnBroken on_broken;
  std::thread thread;

  Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool created ABSL_GUARDED_BY(mu) = false;
  bool exited ABSL_GUARDED_BY(mu) = false;
  Status cause ABSL_GUARDED_BY(mu);                       // why the thread exited
  httplib::Client* active ABSL_GUARDED_BY(mu) = nullptr;  // the stream's, for Stop

  std::string CreateRequest() const;
  void Run(Clock::time_point deadline);
  Status Stream(const HostPort& address, milliseconds connect_timeout);
  bool Receive(JsonSplitter& splitter, std::string_view data, Status* end);
  bool Handle(const Json& message, Status* end);
  Status AwaitCreated(Clock::time_point deadline);
  void Stop();
};

std::string EtcdWatch::Impl::CreateRequest() const {
  Json create = {{"key", Base64Encode(key)},
                 {"range_end", Base64Encode(range_end)},
                 {"progress_notify", true}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  return Json{{"create_request", create}}.dump();
}

// Tries the endpoints in order until one creates the watch; a created watch that ends is
// broken, not retried (the owner re-reads to learn what it missed).
void EtcdWatch::Impl::Run(Clock::time_point deadline) {
  Status end = Status::Unavailable("etcd watch: no endpoint tried");
  for (const std::string& ep : options.endpoints) {
    auto budget = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (budget < milliseconds(1)) break;
    end = Stream(*SplitEndpoint(ep), budget);
    MutexLock lock(&mu);
    if (created || stopping) break;
  }
  bool broken;
  {
    MutexLock lock(&mu);
    broken = created && !stopping;
  }
  if (broken) on_broken(end);
  MutexLock lock(&mu);
  cause = std::move(end);
  exited = true;
}

Status EtcdWatch::Impl::Stream(const HostPort& address, milliseconds connect_timeout) {
  std::string name = address.host + ":" + std::to_string(address.port);
  httplib::Client client(address.host, address.port);
  client.set_connection_timeout(connect_timeout);
  client.set_write_timeout(connect_timeout);
  client.set_read_timeout(kWatchReadTimeout);
  client.set_socket_options(SetWatchSocketOptions);
  {
    MutexLock lock(&mu);
    if (stopping) return Status::Unavailable("etcd watch stopped");
    active = &client;
  }
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = CreateRequest();
  req.set_header("Content-Type", "application/json");
  JsonSplitter splitter;
  Status end;  // set by Handle when a message ends the watch
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    return Receive(splitter, std::string_view(data, size), &end);
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool ok = client.send(req, res, error);
  {
    MutexLock lock(&mu);
    active = nullptr;
  }
  if (!end.ok()) return end;
  if (!ok) return Status::Unavailable("etcd watch on " + name + ": " + httplib::to_string(error));
  return Status::Unavailable("etcd watch on " + name + ": the stream ended");
}

bool EtcdWatch::Impl::Receive(JsonSplitter& splitter, std::string_view data, Status* end) {
  std::vector<std::string> texts;
  if (!splitter.Feed(data, &texts)) {
    *end = Status::Internal("etcd watch: the reply is not a stream of JSON objects");
    return false;
  }
  for (const std::string& text : texts) {
    Json message = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object()) {
      *end = Status::Internal("etcd watch: bad JSON: " + text.substr(0, kMaxErrorText));
      return false;
    }
    if (!Handle(message, end)) return false;
  }
  MutexLock lock(&mu);
  return !stopping;
}

// False (with `*end` set) when the message ends the watch.
bool EtcdWatch::Impl::Handle(const Json& message, Status* end) {
  auto result = message.find("result");
  if (message.contains("error") || result == message.end() || !result->is_object()) {
    *end = message.contains("error") ? GatewayError(message) : BadReply(message, "watch");
    return false;
  }
  if (Flag(*result, "created")) {
    MutexLock lock(&mu);
    if (stopping) return false;
    created = true;
  }
  if (Flag(*result, "canceled")) {
    int64_t compacted = 0;
    ReadInt(*result, "compact_revision", &compacted);
    *end = Status::Unavailable(
        "etcd watch canceled: " + Text(*result, "cancel_reason") +
        (compacted > 0 ? " (revision compacted up to " + std::to_string(compacted) + ")" : ""));
    return false;
  }
  std::vector<EtcdEvent> events;
  int64_t revision = 0;
  if (!ReadEvents(*result, &events) || !ReadRevision(*result, &revision)) {
    *end = BadReply(message, "watch events");
    return false;
  }
  if (!events.empty()) on_events(events, revision);
  return true;
}

Status EtcdWatch::Impl::AwaitCreated(Clock::time_point deadline) {
  MutexLock lock(&mu);
  auto started = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return created || exited; };
  if (!mu.AwaitWithTimeout(Condition(&started), deadline - Clock::now())) {
    stopping = true;  // from here the stream cannot become created
    return Status::Unavailable("etcd watch not created within " +
                               std::to_string(options.timeout.count()) + " ms");
  }
  if (created) return Status::Ok();
  return Status::Unavailable("etcd watch not created on any endpoint: " + cause.message());
}

// httplib's stop() shuts the in-flight socket down, which ends a blocked read at once. It is
// repeated because the thread may be between endpoints, with no socket yet to shut down.
void EtcdWatch::Impl::Stop() {
  MutexLock lock(&mu);
  stopping = true;
  while (!exited) {
    if (active != nullptr) active->stop();
    mu.AwaitWithTimeout(Condition(&exited), milliseconds(10));
  }
}

Result<std::unique_ptr<EtcdWatch>> EtcdWatch::Start(const EtcdOptions& options, std::string prefix,
                                                    int64_t start_revision, OnEvents on_events,
                                                    OnBroken on_broken) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  if (!on_events || !on_broken) return Status::InvalidArgument("etcd watch: a callback is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->range_end = PrefixRangeEnd(prefix);
  impl->key = prefix.empty() ? std::string(1, '\0') : std::move(prefix);
  impl->start_revision = start_revision;
  impl->on_events = std::move(on_events);
  impl->on_broken = std::move(on_broken);
  const auto deadline = Clock::now() + options.timeout;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw, deadline] { raw->Run(deadline); });
  std::unique_ptr<EtcdWatch> watch(new EtcdWatch(std::move(impl)));
  KVSTASH_RETURN_IF_ERROR(raw->AwaitCreated(deadline));  // on error ~EtcdWatch joins
  return watch;
}

EtcdWatch::EtcdWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EtcdWatch::~EtcdWatch() {
  impl_->Stop();
  impl_->thread.join();
}

}  // namespace kvstash::cluster
