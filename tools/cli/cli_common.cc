#include "tools/cli/cli_common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/errno.h"
#include "config/host_port.h"

namespace kvstash {

Result<ClientOptions> GlobalOptions::ToClientOptions() const {
  if (IsClusterAddress(server)) {  // each node's connection: the address comes from the node
    GlobalOptions node = *this;
    node.server = "127.0.0.1:7400";
    return node.ToClientOptions();
  }
  auto address = ParseHostPort(server);
  if (!address.ok()) return Status::InvalidArgument("--server: " + address.status().message());
  if (address->port == 0) return Status::InvalidArgument("--server: port 0 is not connectable");
  if (namespace_id > 65535) {
    return Status::InvalidArgument("--namespace must be in 0..65535, got " +
                                   std::to_string(namespace_id));
  }
  ClientOptions o;
  o.server_address = server;
  o.namespace_id = static_cast<uint16_t>(namespace_id);
  o.token = token;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  o.connect_timeout = std::min(o.connect_timeout, o.timeout);
  o.peer_failure = peer_failure;
  o.transfer = transfer;
  return o;
}

std::unique_ptr<Client> ConnectOrReport(const GlobalOptions& global) {
  Result<ClientOptions> options = global.ToClientOptions();
  if (!options.ok()) {
    ReportError("bad options", options.status());
    return nullptr;
  }
  Result<std::unique_ptr<Client>> client = Client::Connect(*options);
  if (!client.ok()) {
    ReportError("cannot connect to " + global.server, client.status());
    return nullptr;
  }
  return std::move(client).value();
}

std::unique_ptr<ClusterClient> ConnectClusterOrReport(const GlobalOptions& global) {
  Result<ClusterOptions> options = ClusterOptions::Parse(global.server);
  Result<ClientOptions> node = global.ToClientOptions();
  if (!options.ok() || !node.ok()) {
    ReportError("bad options", options.ok() ? node.status() : options.status());
    return nullptr;
  }
  options->node = *node;
  Result<std::unique_ptr<ClusterClient>> cluster = ClusterClient::Connect(*options);
  if (!cluster.ok()) {
    ReportError("cannot reach cluster " + global.server, cluster.status());
    return nullptr;
  }
  return std::move(cluster).value();
}

int ReportError(const std::string& context, const Status& status) {
  std::string text = status.ToString();
  if (status.Is(StatusCode::kPermissionDenied) &&
      text.find("permission denied") == std::string::npos) {
    text = "permission denied: " + text;  // the phrase scripts and people look for
  }
  std::fprintf(stderr, "kvstash: %s: %s\n", context.c_str(), text.c_str());
  return kExitError;
}

Result<std::vector<std::byte>> ReadInput(const std::string& path) {
  bool is_stdin = path == "-";
  int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  std::vector<std::byte> data;
  std::byte buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = ErrnoToStatus(errno, "read " + path);
      if (!is_stdin) ::close(fd);
      return s;
    }
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  if (!is_stdin) ::close(fd);
  return data;
}

Status WriteOutput(const std::string& path, std::span<const std::byte> data) {
  bool is_stdout = path == "-";
  int fd = is_stdout ? STDOUT_FILENO
                     : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  size_t done = 0;
  Status result;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = ErrnoToStatus(errno, "write " + path);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!is_stdout && ::close(fd) != 0 && result.ok()) {
    result = ErrnoToStatus(errno, "close " + path);
  }
  return result;
}

}  // namespace kvstash
