#include "backend.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "common/errno.h"

namespace kvstash::python {

namespace {

// Any parseable address: ClientOptions::Validate() checks one, and a cluster's node
// connections get theirs from the node list.
constexpr char kNodeAddressPlaceholder[] = "127.0.0.1:7400";

bool IsNodeFailure(const Status& s) {
  return s.Is(StatusCode::kUnavailable) || s.Is(StatusCode::kTimeout);
}

// The data path of both clients, whose calls have the same signatures, forwarded once.
// Counts the calls that failed as a whole with Unavailable or Timeout.
template <typename C>
class Forwarding : public Backend {
 public:
  explicit Forwarding(std::unique_ptr<C> client) : client_(std::move(client)) {}

  Status Put(std::string_view key, std::span<const std::byte> value) override {
    return Noted(client_->Put(key, value));
  }
  Result<size_t> Get(std::string_view key, std::span<std::byte> dest) override {
    return Noted(client_->Get(key, dest));
  }
  Result<bool> Exists(std::string_view key) override { return Noted(client_->Exists(key)); }
  Status Delete(std::string_view key) override { return Noted(client_->Delete(key)); }
  Result<size_t> LongestPrefix(std::span<const std::string_view> keys) override {
    return Noted(client_->LongestPrefix(keys));
  }
  Result<std::vector<Status>> PutBatch(std::span<const PutItem> items) override {
    return Noted(client_->PutBatch(items));
  }
  Result<std::vector<Result<size_t>>> GetBatch(std::span<const GetItem> items) override {
    return Noted(client_->GetBatch(items));
  }
  Result<std::vector<bool>> ExistsBatch(std::span<const std::string_view> keys) override {
    return Noted(client_->ExistsBatch(keys));
  }
  Result<std::vector<Status>> DeleteBatch(std::span<const std::string_view> keys) override {
    return Noted(client_->DeleteBatch(keys));
  }

 protected:
  Status Noted(Status s) {
    if (IsNodeFailure(s)) failing_calls_++;
    return s;
  }
  template <typename T>
  Result<T> Noted(Result<T> r) {
    if (!r.ok() && IsNodeFailure(r.status())) failing_calls_++;
    return r;
  }

  std::unique_ptr<C> client_;
  std::atomic<uint64_t> failing_calls_{0};
};

class SingleServer final : public Forwarding<Client> {
 public:
  SingleServer(std::unique_ptr<Client> client, std::string address)
      : Forwarding(std::move(client)), address_(std::move(address)) {}

  Result<BackendBuffer> RegisterBuffer(void* data, size_t size) override {
    KVSTASH_ASSIGN_OR_RETURN(BufferHandle h, Noted(client_->RegisterBuffer(data, size)));
    return BackendBuffer(std::move(h));
  }
  Result<BackendBuffer> AllocateBuffer(size_t size) override {
    KVSTASH_ASSIGN_OR_RETURN(BufferHandle h, Noted(client_->AllocateBuffer(size)));
    return BackendBuffer(std::move(h));
  }
  Result<std::map<std::string, uint64_t>> Stats() override { return Noted(client_->Stats()); }

  std::vector<ClusterNodeStatus> Nodes() override {
    Result<std::map<std::string, uint64_t>> stats = Stats();
    ClusterNodeStatus n;
    n.name = address_;
    n.address = address_;
    n.state = stats.ok() ? "up" : "unreachable";
    if (stats.ok()) {
      auto value = [&](const char* name) {
        auto it = stats->find(name);
        return it == stats->end() ? uint64_t{0} : it->second;
      };
      n.dram_bytes = value("store.dram_capacity_bytes");
      n.flash_bytes = value("store.flash_capacity_bytes");
    }
    n.connected = client_->connected();
    n.failures = failing_calls_.load();
    return {std::move(n)};
  }

 private:
  std::string address_;
};

class Cluster final : public Forwarding<ClusterClient> {
 public:
  using Forwarding::Forwarding;

  // No registration spans the nodes: the range is recorded by the caller, and each node's
  // client moves it as unregistered memory (staged).
  Result<BackendBuffer> RegisterBuffer(void* data, size_t size) override {
    if (data == nullptr || size == 0) {
      return Status::InvalidArgument("register_buffer: null or empty range");
    }
    return BackendBuffer(static_cast<std::byte*>(data), size, /*owned=*/false);
  }
  Result<BackendBuffer> AllocateBuffer(size_t size) override {
    if (size == 0) return Status::InvalidArgument("allocate_buffer: size is 0");
    // An anonymous mapping: page-aligned and zeroed, as a node's shared memory would be.
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return ErrnoToStatus(errno, "mmap of an allocate_buffer range");
    return BackendBuffer(static_cast<std::byte*>(p), size, /*owned=*/true);
  }
  Result<std::map<std::string, uint64_t>> Stats() override { return client_->Stats(); }
  std::vector<ClusterNodeStatus> Nodes() override { return client_->Nodes(); }
};

}  // namespace

BackendBuffer::BackendBuffer(BufferHandle handle)
    : handle_(std::move(handle)),
      data_(static_cast<std::byte*>(handle_.data())),
      size_(handle_.size()) {}

BackendBuffer::BackendBuffer(std::byte* data, size_t size, bool owned)
    : data_(data), size_(size), owned_(owned) {}

BackendBuffer::BackendBuffer(BackendBuffer&& o) noexcept { *this = std::move(o); }

BackendBuffer& BackendBuffer::operator=(BackendBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    handle_ = std::move(o.handle_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

BackendBuffer::~BackendBuffer() { Release(); }

void BackendBuffer::Release() {
  handle_ = BufferHandle();  // unregisters while its client lives; inert after
  if (owned_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  owned_ = false;
}

Result<ClusterOptions> ClusterOptionsOf(const ClientOptions& options) {
  KVSTASH_ASSIGN_OR_RETURN(ClusterOptions cluster, ClusterOptions::Parse(options.server_address));
  cluster.node = options;
  cluster.node.server_address = kNodeAddressPlaceholder;
  KVSTASH_RETURN_IF_ERROR(cluster.Validate());
  return cluster;
}

Status ValidateBackendOptions(const ClientOptions& options) {
  if (IsClusterAddress(options.server_address)) return ClusterOptionsOf(options).status();
  return options.Validate();
}

Result<std::unique_ptr<Backend>> Backend::Connect(const ClientOptions& options) {
  if (IsClusterAddress(options.server_address)) {
    KVSTASH_ASSIGN_OR_RETURN(ClusterOptions cluster, ClusterOptionsOf(options));
    KVSTASH_ASSIGN_OR_RETURN(auto client, ClusterClient::Connect(std::move(cluster)));
    return std::unique_ptr<Backend>(new Cluster(std::move(client)));
  }
  KVSTASH_ASSIGN_OR_RETURN(auto client, Client::Connect(options));
  return std::unique_ptr<Backend>(new SingleServer(std::move(client), options.server_address));
}

}  // namespace kvstash::python
