#include "config/kvstashd_flags.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <functional>
#include <list>

#include "common/size.h"
#include "config/toml_config.h"

namespace kvstash {
namespace {

using Apply = std::function<Status(const std::string&, KvstashdConfig*)>;

// One flag: CLI11 stores its text; `apply` parses it into the config after the file.
struct Flag {
  std::string name;
  Apply apply;
  std::string value;
  CLI::Option* option = nullptr;
};

Result<uint64_t> ParseCount(const std::string& text, uint64_t max) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || v > max) {
    return Status::InvalidArgument("'" + text + "' is not a number in 0.." + std::to_string(max));
  }
  return v;
}

Apply SizeTo(uint64_t KvstashdConfig::*member) {
  return [member](const std::string& text, KvstashdConfig* c) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(c->*member, ParseSize(text));
    return Status::Ok();
  };
}

Apply StringTo(std::string KvstashdConfig::*member) {
  return [member](const std::string& text, KvstashdConfig* c) -> Status {
    c->*member = text;
    return Status::Ok();
  };
}

template <typename T>
Apply CountTo(T KvstashdConfig::*member) {
  return [member](const std::string& text, KvstashdConfig* c) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t v, ParseCount(text, std::numeric_limits<T>::max()));
    c->*member = static_cast<T>(v);
    return Status::Ok();
  };
}

Status ApplyPeerFailure(const std::string& text, KvstashdConfig* c) {
  KVSTASH_ASSIGN_OR_RETURN(c->peer_failure, ParsePeerFailure(text));
  return Status::Ok();
}

Status ApplySharedArena(const std::string& text, KvstashdConfig* c) {
  if (text != "on" && text != "off") return Status::InvalidArgument("expected on or off");
  c->shared_arena = text == "on";
  return Status::Ok();
}

Status ApplyAdmission(const std::string& text, KvstashdConfig* c) {
  KVSTASH_ASSIGN_OR_RETURN(c->admission, ParseAdmissionKind(text));
  return Status::Ok();
}

class KvstashdFlags {
 public:
  KvstashdFlags() : app_("kvstashd: the kvstash storage node (KV-cache block store)") {
    app_.add_option("--config", config_file_, "TOML config file (docs/CONFIG.md)");
    using C = KvstashdConfig;
    Add("--listen", "HOST:PORT of the UCX listener", StringTo(&C::listen));
    Add("--dram", "DRAM arena SIZE, e.g. 1GiB", SizeTo(&C::dram_bytes));
    Add("--shared-arena",
        "on|off: arena in shared memory from UCX, so clients on this host put with one memcpy",
        ApplySharedArena);
    Add("--flash", "flash file or block device PATH; '' disables flash", StringTo(&C::flash_path));
    Add("--flash-size", "flash SIZE; 0 = auto (free space, at most 8GiB)", SizeTo(&C::flash_bytes));
    Add("--region-size", "region SIZE of the DRAM and flash tiers", SizeTo(&C::region_bytes));
    Add("--workers", "worker threads N", CountTo(&C::workers));
    Add("--admission", "flash admission: reuse|prefix|all", ApplyAdmission);
    Add("--admission-budget", "flash write budget SIZE per second; 0 = unlimited",
        SizeTo(&C::admission_bytes_per_s));
    Add("--flash-readers", "flash reader threads per worker, 1..64", CountTo(&C::flash_readers));
    Add("--trim-rate", "TRIM rate SIZE per second; 0 = unlimited", SizeTo(&C::trim_bytes_per_s));
    Add("--lease-ms", "allocation lease in milliseconds", CountTo(&C::lease_ms));
    Add("--idle-poll-us",
        "microseconds an idle worker polls before sleeping (default 200; 0 when nodes share "
        "few cores)",
        CountTo(&C::idle_poll_us));
    Add("--peer-failure",
        "auto|on|off: transport-level dead-client detection; auto (default) is off for "
        "clients on this host, which lets UCX use shared memory, and on for the others",
        ApplyPeerFailure);
    Add("--metrics-listen", "HOST:PORT of the Prometheus exporter; '' disables",
        StringTo(&C::metrics_listen));
    Add("--etcd", "etcd endpoints HOST:PORT[,HOST:PORT]: join a cluster; '' = standalone",
        StringTo(&C::cluster_etcd));
    Add("--cluster", "cluster NAME in etcd (default 'default')", StringTo(&C::cluster_name));
    Add("--node-name", "this node's stable NAME in the cluster; default <hostname>-<port>",
        StringTo(&C::node_name));
    Add("--advertise", "HOST:PORT clients connect to; default --listen", StringTo(&C::advertise));
    Add("--node-weight", "relative capacity N; 0 = GiB of DRAM + flash", CountTo(&C::node_weight));
    Add("--cluster-ttl", "lease TTL in seconds, 1..60: a crashed node is dropped after this",
        CountTo(&C::cluster_ttl_s));
    Add("--log-level", "trace|debug|info|warn|error|critical|off", StringTo(&C::log_level));
  }

  // Parses argv; sets *help when --help was given. CLI11 exceptions become Status here.
  Status Parse(int argc, const char* const* argv, std::optional<std::string>* help) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      *help = app_.help();
    } catch (const CLI::ParseError& e) {
      return Status::InvalidArgument(std::string(e.get_name()) + ": " + e.what() +
                                     " (see kvstashd --help)");
    }
    return Status::Ok();
  }

  // Overlays the flags that were given on *config.
  Status ApplyTo(KvstashdConfig* config) const {
    for (const Flag& f : flags_) {
      if (f.option->count() == 0) continue;
      Status st = f.apply(f.value, config);
      if (!st.ok()) return Status::InvalidArgument(f.name + ": " + st.message());
    }
    return Status::Ok();
  }

  const std::string& config_file() const { return config_file_; }

 private:
  void Add(const std::string& name, const std::string& help, Apply apply) {
    Flag& f = flags_.emplace_back(Flag{name, std::move(apply), {}, nullptr});
    f.option = app_.add_option(name, f.value, help);
  }

  CLI::App app_;
  std::string config_file_;
  std::list<Flag> flags_;  // a list: CLI11 keeps pointers to each `value`
};

}  // namespace

Result<KvstashdArgs> ParseKvstashdArgs(int argc, const char* const* argv) {
  KvstashdFlags flags;
  KvstashdArgs args;
  KVSTASH_RETURN_IF_ERROR(flags.Parse(argc, argv, &args.help));
  if (args.help) return args;
  args.config_file = flags.config_file();
  if (!args.config_file.empty()) {
    KVSTASH_RETURN_IF_ERROR(ApplyTomlConfigFile(args.config_file, &args.config));
  }
  KVSTASH_RETURN_IF_ERROR(flags.ApplyTo(&args.config));
  KVSTASH_RETURN_IF_ERROR(args.config.Validate());
  return args;
}

}  // namespace kvstash
