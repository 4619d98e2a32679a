#include "config/toml_config.h"

// The only include of toml++: header-only, no exceptions (parse errors come back as values).
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <limits>
#include <span>
#include <sstream>

#include "common/errno.h"
#include "common/size.h"

namespace kvstash {
namespace {

template <typename S>
using Setter = std::function<Status(const toml::node&, S*)>;

template <typename S>
struct Field {
  std::string_view key;
  Setter<S> set;
};

std::string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

Status WrongType(const toml::node& n, std::string_view expected) {
  return Status::InvalidArgument("expected " + std::string(expected) + ", got " +
                                 std::string(TypeName(n)));
}

Result<uint64_t> NodeUint(const toml::node& n, uint64_t max) {
  const auto* i = n.as_integer();
  if (i == nullptr) return WrongType(n, "a non-negative integer");
  int64_t v = i->get();
  if (v < 0 || static_cast<uint64_t>(v) > max) {
    return Status::InvalidArgument(std::to_string(v) + " is out of range 0.." +
                                   std::to_string(max));
  }
  return static_cast<uint64_t>(v);
}

// A size: an integer byte count or a string such as "64MiB".
Result<uint64_t> NodeSize(const toml::node& n) {
  if (n.is_integer()) return NodeUint(n, std::numeric_limits<int64_t>::max());
  const auto* s = n.as_string();
  if (s == nullptr) return WrongType(n, "a size (an integer or a string like \"64MiB\")");
  return ParseSize(s->get());
}

Result<std::string> NodeString(const toml::node& n) {
  const auto* s = n.as_string();
  if (s == nullptr) return WrongType(n, "a string");
  return s->get();
}

template <typename S, typename T>
Setter<S> Uint(T S::*member) {
  return [member](const toml::node& n, S* s) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t v, NodeUint(n, std::numeric_limits<T>::max()));
    s->*member = static_cast<T>(v);
    return Status::Ok();
  };
}

template <typename S>
Setter<S> Bool(bool S::*member) {
  return [member](const toml::node& n, S* s) -> Status {
    const auto* b = n.as_boolean();
    if (b == nullptr) return WrongType(n, "true or false");
    s->*member = b->get();
    return Status::Ok();
  };
}

template <typename S>
Setter<S> Size(uint64_t S::*member) {
  return [member](const toml::node& n, S* s) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(s->*member, NodeSize(n));
    return Status::Ok();
  };
}

template <typename S>
Setter<S> String(std::string S::*member) {
  return [member](const toml::node& n, S* s) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(s->*member, NodeString(n));
    return Status::Ok();
  };
}

Status SetFlashSize(const toml::node& n, KvstashdConfig* c) {
  if (n.is_string() && n.as_string()->get() == "auto") {
    c->flash_bytes = 0;
    return Status::Ok();
  }
  KVSTASH_ASSIGN_OR_RETURN(c->flash_bytes, NodeSize(n));
  return Status::Ok();
}

// true / false (on / off, as before "auto" existed) or "auto" | "on" | "off".
Status SetPeerFailure(const toml::node& n, KvstashdConfig* c) {
  if (const auto* b = n.as_boolean()) {
    c->peer_failure = b->get() ? PeerFailureDetection::kOn : PeerFailureDetection::kOff;
    return Status::Ok();
  }
  if (n.as_string() == nullptr) return WrongType(n, "true, false, \"auto\", \"on\" or \"off\"");
  KVSTASH_ASSIGN_OR_RETURN(c->peer_failure, ParsePeerFailure(n.as_string()->get()));
  return Status::Ok();
}

Status SetAdmissionKind(const toml::node& n, KvstashdConfig* c) {
  KVSTASH_ASSIGN_OR_RETURN(std::string text, NodeString(n));
  KVSTASH_ASSIGN_OR_RETURN(c->admission, ParseAdmissionKind(text));
  return Status::Ok();
}

using C = KvstashdConfig;
using T = TenantConfig;

const std::vector<Field<C>>& SectionFields(std::string_view section) {
  static const std::vector<Field<C>> kServer = {{"listen", String(&C::listen)},
                                                {"workers", Uint(&C::workers)},
                                                {"max_connections", Uint(&C::max_connections)},
                                                {"max_outstanding", Uint(&C::max_outstanding)},
                                                {"max_batch", Uint(&C::max_batch)},
                                                {"max_value", Size(&C::max_value_bytes)},
                                                {"lease_ms", Uint(&C::lease_ms)},
                                                {"idle_poll_us", Uint(&C::idle_poll_us)},
                                                {"detect_peer_failure", SetPeerFailure}};
  static const std::vector<Field<C>> kDram = {{"size", Size(&C::dram_bytes)},
                                              {"region_size", Size(&C::region_bytes)},
                                              {"shared", Bool(&C::shared_arena)}};
  static const std::vector<Field<C>> kFlash = {{"path", String(&C::flash_path)},
                                               {"size", SetFlashSize},
                                               {"trim_rate", Size(&C::trim_bytes_per_s)},
                                               {"readers", Uint(&C::flash_readers)},
                                               {"bounce", Size(&C::flash_bounce_bytes)}};
  static const std::vector<Field<C>> kAdmission = {{"kind", SetAdmissionKind},
                                                   {"budget", Size(&C::admission_bytes_per_s)}};
  static const std::vector<Field<C>> kMetrics = {{"listen", String(&C::metrics_listen)}};
  static const std::vector<Field<C>> kLog = {{"level", String(&C::log_level)}};
  static const std::vector<Field<C>> kCluster = {
      {"etcd", String(&C::cluster_etcd)},   {"name", String(&C::cluster_name)},
      {"node_name", String(&C::node_name)}, {"advertise", String(&C::advertise)},
      {"weight", Uint(&C::node_weight)},    {"ttl_s", Uint(&C::cluster_ttl_s)}};
  static const std::vector<Field<C>> kNone;
  if (section == "server") return kServer;
  if (section == "dram") return kDram;
  if (section == "flash") return kFlash;
  if (section == "admission") return kAdmission;
  if (section == "metrics") return kMetrics;
  if (section == "log") return kLog;
  if (section == "cluster") return kCluster;
  return kNone;
}

const std::vector<Field<T>>& TenantFields() {
  static const std::vector<Field<T>> kTenant = {{"name", String(&T::name)},
                                                {"namespace", Uint(&T::namespace_id)},
                                                {"token", String(&T::token)},
                                                {"dram", Size(&T::dram_bytes)}};
  return kTenant;
}

// Applies the fields of one table; reports errors as "<source>:<line>:<col>: <section>.<key>:".
class Applier {
 public:
  explicit Applier(std::string_view source) : source_(source) {}

  Status At(const toml::source_region& where, const std::string& message) const {
    return Status::InvalidArgument(std::string(source_) + ":" + std::to_string(where.begin.line) +
                                   ":" + std::to_string(where.begin.column) + ": " + message);
  }

  template <typename S>
  Status ApplyTable(const toml::table& table, std::string_view section,
                    const std::vector<Field<S>>& fields, S* s) const {
    for (auto&& [key, node] : table) {
      std::string name = std::string(section) + "." + std::string(key.str());
      const Field<S>* field = nullptr;
      for (const auto& f : fields) {
        if (f.key == key.str()) field = &f;
      }
      if (field == nullptr) return At(key.source(), "unknown key '" + name + "'");
      Status st = field->set(node, s);
      if (!st.ok()) return At(node.source(), name + ": " + st.message());
    }
    return Status::Ok();
  }

  Status ApplyTenants(const toml::node& node, KvstashdConfig* config) const {
    const toml::array* array = node.as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      return At(node.source(),
                "tenant: expected [[tenant]] tables, got " + std::string(TypeName(node)));
    }
    for (const toml::node& entry : *array) {
      TenantConfig tenant;
      KVSTASH_RETURN_IF_ERROR(ApplyTable(*entry.as_table(), "tenant", TenantFields(), &tenant));
      config->tenants.push_back(std::move(tenant));
    }
    return Status::Ok();
  }

  Status ApplyRoot(const toml::table& root, KvstashdConfig* config) const {
    for (auto&& [key, node] : root) {
      std::string_view section = key.str();
      if (section == "tenant") {
        KVSTASH_RETURN_IF_ERROR(ApplyTenants(node, config));
        continue;
      }
      const auto& fields = SectionFields(section);
      if (fields.empty()) return At(key.source(), "unknown key '" + std::string(section) + "'");
      if (!node.is_table()) {
        return At(node.source(), std::string(section) + ": expected a [" + std::string(section) +
                                     "] table, got " + std::string(TypeName(node)));
      }
      KVSTASH_RETURN_IF_ERROR(ApplyTable(*node.as_table(), section, fields, config));
    }
    return Status::Ok();
  }

 private:
  std::string_view source_;
};

}  // namespace

Status ApplyTomlConfig(std::string_view text, std::string_view source_name,
                       KvstashdConfig* config) {
  toml::parse_result parsed = toml::parse(text, source_name);
  Applier applier(source_name);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return applier.At(e.source(), "TOML syntax: " + std::string(e.description()));
  }
  return applier.ApplyRoot(parsed.table(), config);
}

Status ApplyTomlConfigFile(const std::string& path, KvstashdConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoToStatus(errno, "open config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoToStatus(errno, "read config file " + path);
  return ApplyTomlConfig(text.str(), path, config);
}

Result<KvstashdConfig> ParseKvstashdConfigToml(std::string_view text) {
  KvstashdConfig config;
  KVSTASH_RETURN_IF_ERROR(ApplyTomlConfig(text, "<string>", &config));
  KVSTASH_RETURN_IF_ERROR(config.Validate());
  return config;
}

}  // namespace kvstash
