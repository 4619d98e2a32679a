#include "tools/peers/peer_kvstash.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "engine/block_store.h"
#include "net/server/server.h"

namespace kvstash {
namespace {

constexpr std::string_view kReady = "READY ";

Status ParseServeArgs(int argc, char** argv, KvstashNodeOptions* o) {
  for (int i = 0; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--transport") {
      o->transport = v;
    } else if (k == "--dram") {
      o->dram_bytes = std::stoull(v);
    } else if (k == "--region") {
      o->region_bytes = std::stoull(v);
    } else if (k == "--flash") {
      o->flash_path = v;
    } else if (k == "--flash-bytes") {
      o->flash_bytes = std::stoull(v);
    } else if (k == "--prefault") {
      o->prefault = v == "1";
    } else if (k == "--shared-arena") {
      o->shared_arena = v == "1";
    } else if (k == "--workers") {
      o->workers = static_cast<uint32_t>(std::stoul(v));
    } else {
      return Status::InvalidArgument("unknown serve flag " + k);
    }
  }
  if (o->transport != "sm" && o->transport != "tcp") {
    return Status::InvalidArgument("--transport must be sm or tcp");
  }
  return Status::Ok();
}

// The child side: the node itself. Signals are blocked first so that sigwait() owns them.
int Serve(const KvstashNodeOptions& o) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  StoreOptions so;
  so.dram_bytes = o.dram_bytes;
  so.dram_region_bytes = o.region_bytes;
  so.max_value_bytes = o.region_bytes;
  if (!o.flash_path.empty()) {
    so.flash.path = o.flash_path;
    so.flash.size_bytes = o.flash_bytes;
    so.flash.regions.region_bytes = o.region_bytes;
    so.flash.admission.kind = "all";  // every block reaches flash: the flash tier is measured
  }
  std::shared_ptr<net::SharedArenas> arenas;
  if (o.shared_arena) {
    Result<std::shared_ptr<net::SharedArenas>> a = CreateSharedArenas();
    if (!a.ok())
      return std::fprintf(stderr, "shared arenas: %s\n", a.status().ToString().c_str()), 1;
    arenas = std::move(a).value();
    so.arena_allocator = SharedArenaAllocator(arenas);
  }
  // The store touches every arena page itself when asked (StoreOptions::prefault).
  so.prefault = o.prefault;
  auto t0 = std::chrono::steady_clock::now();
  Result<std::unique_ptr<BlockStore>> store = BlockStore::Create(so);
  if (!store.ok()) return std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str()), 1;
  std::printf(
      "ARENA %llu bytes, prefault %d, created in %.1f ms\n",
      static_cast<unsigned long long>((*store)->arena_size()), o.prefault ? 1 : 0,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  ServerOptions sv;
  sv.listen_host = "127.0.0.1";
  sv.listen_port = 0;
  sv.workers = o.workers;
  sv.max_value_bytes = o.region_bytes;
  sv.peer_failure = o.transport == "sm" ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  sv.shared_arenas = arenas;
  Result<std::unique_ptr<Server>> server = Server::Create(sv, store->get());
  if (!server.ok()) {
    return std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str()), 1;
  }
  Status started = (*server)->Start();
  if (!started.ok()) return std::fprintf(stderr, "start: %s\n", started.ToString().c_str()), 1;
  std::printf("%s%u\n", kReady.data(), (*server)->port());
  std::fflush(stdout);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  (*server)->Stop();
  return 0;
}

// The port announced in the node's log, or 0 while it has not started.
uint16_t ReadyPort(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kReady, 0) == 0) return static_cast<uint16_t>(std::stoul(line.substr(6)));
  }
  return 0;
}

}  // namespace

std::string UcxTlsFor(const std::string& transport) {
  // The 1.13 sockaddr connection manager needs a transport on `lo` for the handshake: tcp stays
  // listed for sm, and carries no payload there (src/net/tests/CMakeLists.txt).
  // KVSTASH_PEERS_SM_TLS overrides the sm list (e.g. "posix,cma,self,tcp") for experiments.
  const char* sm = std::getenv("KVSTASH_PEERS_SM_TLS");
  return transport == "sm" ? (sm != nullptr && *sm != 0 ? sm : "sm,self,tcp") : "tcp";
}

int RunKvstashServeMode(int argc, char** argv) {
  KvstashNodeOptions o;
  Status s = ParseServeArgs(argc, argv, &o);
  if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 2;
  return Serve(o);
}

Result<std::unique_ptr<KvstashPeer>> KvstashPeer::Start(const std::string& self_exe,
                                                        const KvstashNodeOptions& options,
                                                        const std::string& log_path) {
  std::unique_ptr<KvstashPeer> peer(new KvstashPeer());
  peer->options_ = options;
  std::vector<std::string> argv = {self_exe,         "--serve",
                                   "--transport",    options.transport,
                                   "--dram",         std::to_string(options.dram_bytes),
                                   "--region",       std::to_string(options.region_bytes),
                                   "--workers",      std::to_string(options.workers),
                                   "--prefault",     options.prefault ? "1" : "0",
                                   "--shared-arena", options.shared_arena ? "1" : "0"};
  if (!options.flash_path.empty()) {
    argv.insert(argv.end(), {"--flash", options.flash_path, "--flash-bytes",
                             std::to_string(options.flash_bytes)});
  }
  std::string tls = UcxTlsFor(options.transport);
  std::remove(log_path.c_str());
  KVSTASH_ASSIGN_OR_RETURN(peer->node_, ChildProcess::Spawn(argv, {"UCX_TLS=" + tls}, log_path));
  uint16_t port = 0;
  // Pre-faulting a 1 GiB arena takes ~0.3 s here, but well over 20 s under TSan on a loaded
  // 2-CPU machine (scripts/sanitize thread): a generous bound, reached only on failure.
  KVSTASH_RETURN_IF_ERROR(WaitUntilReady(
      peer->node_, [&] { return (port = ReadyPort(log_path)) != 0; }, std::chrono::seconds(90),
      "kvstash node"));
  ::setenv("UCX_TLS", tls.c_str(), 1);  // read when the client creates its UCX context
  ClientOptions co;
  co.server_address = "127.0.0.1:" + std::to_string(port);
  co.timeout = std::chrono::milliseconds(30000);
  co.peer_failure =
      options.transport == "sm" ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  co.send_checksums = options.send_checksums;
  co.transfer = options.transfer;
  KVSTASH_ASSIGN_OR_RETURN(peer->client_, Client::Connect(co));
  return peer;
}

KvstashPeer::~KvstashPeer() {
  set_handle_ = BufferHandle();
  dest_handles_.clear();
  client_.reset();  // handles first, then the client, then the node
  node_.Stop();
}

Status KvstashPeer::Prepare(const BlockSet& set) {
  if (registered_set_ != &set) {
    set_handle_ = BufferHandle();
    KVSTASH_ASSIGN_OR_RETURN(set_handle_, client_->RegisterBuffer(set.base(), set.total_bytes()));
    registered_set_ = &set;
  }
  KVSTASH_ASSIGN_OR_RETURN(stats_at_prepare_, client_->Stats());
  return Status::Ok();
}

Status KvstashPeer::PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) {
  // ResourceExhausted means the DRAM tier is full until the background flush frees a region:
  // an engine backs off and retries, so do we (for up to 10 s; counted in Note()).
  std::vector<uint32_t> pending(ids.begin(), ids.end());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    put_items_.clear();
    for (uint32_t id : pending) put_items_.push_back({set.key(id), set.block(id)});
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> st, client_->PutBatch(put_items_));
    std::vector<uint32_t> again;
    for (size_t i = 0; i < st.size(); ++i) {
      bool full = st[i].code() == StatusCode::kResourceExhausted;
      if (full && std::chrono::steady_clock::now() < deadline) {
        again.push_back(pending[i]);
      } else if (!st[i].ok()) {
        return Status(st[i].code(), "put " + set.key(pending[i]) + ": " + st[i].message());
      }
    }
    if (again.empty()) return Status::Ok();
    put_retries_ += again.size();
    pending = std::move(again);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Status KvstashPeer::GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) {
  get_items_.clear();
  uint64_t b = set.block_bytes();
  for (size_t k = 0; k < ids.size(); ++k)
    get_items_.push_back({set.key(ids[k]), {dest + k * b, b}});
  KVSTASH_ASSIGN_OR_RETURN(std::vector<Result<size_t>> got, client_->GetBatch(get_items_));
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].ok()) {
      return Status(got[i].status().code(),
                    "get " + set.key(ids[i]) + ": " + got[i].status().message());
    }
    if (*got[i] != b) return Status::DataLoss("get " + set.key(ids[i]) + ": wrong size");
  }
  return Status::Ok();
}

Status KvstashPeer::Clear(const BlockSet& set) {
  std::vector<std::string_view> keys;
  for (uint32_t i = 0; i < set.count(); ++i) keys.push_back(set.key(i));
  KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> st, client_->DeleteBatch(keys));
  for (const Status& s : st) {
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  return Status::Ok();
}

void KvstashPeer::Release(const BlockSet& set) {
  if (registered_set_ == &set) {
    set_handle_ = BufferHandle();
    registered_set_ = nullptr;
  }
}

Result<std::byte*> KvstashPeer::DestBuffer(uint64_t bytes) {
  for (const BufferHandle& h : dest_handles_) {
    if (h.size() >= bytes) return static_cast<std::byte*>(h.data());
  }
  // Memory from the client library: a shared segment the node maps when it is on this host.
  KVSTASH_ASSIGN_OR_RETURN(BufferHandle h, client_->AllocateBuffer(bytes));
  dest_handles_.push_back(std::move(h));
  return static_cast<std::byte*>(dest_handles_.back().data());
}

std::string KvstashPeer::Note() {
  Result<std::map<std::string, uint64_t>> now = client_->Stats();
  if (!now.ok()) return "stats unavailable: " + now.status().ToString();
  auto delta = [&](const char* k) { return (*now)[k] - stats_at_prepare_[k]; };
  uint64_t dram = delta("server.get_bytes_dram"), flash = delta("server.get_bytes_flash");
  uint64_t mapped = delta("server.get_bytes_mapped");
  std::ostringstream os;
  os << "served dram=" << dram << "B flash=" << flash << "B";
  if (dram + flash > 0) os << " (flash " << 100.0 * flash / (dram + flash) << "%)";
  os << " mapped=" << mapped << "B";
  if (put_retries_ > 0) os << "; " << put_retries_ << " puts retried after ResourceExhausted";
  put_retries_ = 0;
  return os.str();
}

}  // namespace kvstash
