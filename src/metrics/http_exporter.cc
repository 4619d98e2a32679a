#include "metrics/http_exporter.h"

#include <httplib.h>

#include <chrono>

#include "config/host_port.h"

namespace kvstash {

struct MetricsExporter::Impl {
  HostPort address;
  SampleSource source;
  HealthCheck health;
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> exited{false};  // listen_after_bind returned

  void Routes();
};

namespace {

// Renders one scrape. Any failure becomes a 500 with the reason in the body.
void ServeMetrics(const SampleSource& source, httplib::Response& res) {
  std::vector<MetricSample> samples;
  try {
    samples = source();
  } catch (const std::exception& e) {
    res.status = 500;
    res.set_content(std::string("sample source failed: ") + e.what() + "\n", "text/plain");
    return;
  }
  Result<std::string> text = RenderPrometheusText(samples);
  if (!text.ok()) {
    res.status = 500;
    res.set_content(text.status().ToString() + "\n", "text/plain");
    return;
  }
  res.set_content(std::move(text).value(), std::string(kPrometheusContentType));
}

}  // namespace

void MetricsExporter::Impl::Routes() {
  http.Get("/metrics",
           [this](const httplib::Request&, httplib::Response& res) { ServeMetrics(source, res); });
  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    bool ok = true;
    try {
      ok = !health || health();
    } catch (...) {
      ok = false;
    }
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok\n" : "unavailable\n", "text/plain");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("kvstash metrics: /metrics /healthz\n", "text/plain");
  });
}

Status ExporterOptions::Validate() const {
  auto address = ParseHostPort(listen);
  if (!address.ok())
    return Status::InvalidArgument("metrics listen: " + address.status().message());
  return Status::Ok();
}

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::Start(const ExporterOptions& options,
                                                                SampleSource source,
                                                                HealthCheck health) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->address = *ParseHostPort(options.listen);
  impl->source = std::move(source);
  impl->health = std::move(health);
  impl->Routes();
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // exporter silently share a port that is already taken.
  impl->http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const HostPort& a = impl->address;
  int port = a.port;
  if (port == 0) {
    port = impl->http.bind_to_any_port(a.host);
  } else if (!impl->http.bind_to_port(a.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return Status::Unavailable("metrics exporter cannot bind " + options.listen +
                               " (address in use or not local?)");
  }
  impl->address.port = static_cast<uint16_t>(port);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->http.listen_after_bind();
    raw->exited.store(true, std::memory_order_release);
  });
  // Wait until the accept loop runs: a stop() before that point would be lost.
  while (!impl->http.is_running()) {
    if (impl->exited.load(std::memory_order_acquire)) {
      impl->thread.join();
      return Status::Internal("metrics exporter on " + options.listen + " stopped at once");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::unique_ptr<MetricsExporter> exporter(new MetricsExporter(std::move(impl)));
  return exporter;
}

MetricsExporter::MetricsExporter(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), port_(impl_->address.port) {}

MetricsExporter::~MetricsExporter() { Stop(); }

void MetricsExporter::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->http.stop();
  impl_->thread.join();
}

std::string MetricsExporter::address() const { return impl_->address.ToString(); }

}  // namespace kvstash
