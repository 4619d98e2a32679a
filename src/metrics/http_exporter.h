// MetricsExporter: serves GET /metrics (Prometheus text) and GET /healthz over HTTP on its own
// thread (cpp-httplib). Each scrape calls the sample source once, on an HTTP thread.
//
//   KVSTASH_ASSIGN_OR_RETURN(auto exporter, MetricsExporter::Start({.listen = "127.0.0.1:9400"},
//                                                          [&] { return Samples(); }));
//   ...
//   exporter->Stop();  // or let it go out of scope
//
// Thread safety: Start/Stop/destructor from the owning thread; port()/address() from any.
// The sample source and health check must be safe to call from an HTTP thread while the
// owner runs, and must not throw (an exception is answered with 500, never propagated).
#ifndef KVSTASH_METRICS_HTTP_EXPORTER_H_
#define KVSTASH_METRICS_HTTP_EXPORTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kvstash/status.h"
#include "metrics/prometheus_text.h"

namespace kvstash {

struct ExporterOptions {
  std::string listen = "127.0.0.1:9400";  // HOST:PORT; port 0 picks a free port

  // InvalidArgument for an address that ParseHostPort rejects.
  Status Validate() const;
};

using SampleSource = std::function<std::vector<MetricSample>()>;
// /healthz answers 200 "ok" when this returns true, 503 "unavailable" otherwise.
using HealthCheck = std::function<bool()>;

class MetricsExporter {
 public:
  // Binds `options.listen` and starts serving before it returns. `health` may be null (always
  // healthy). Errors: InvalidArgument (address), Unavailable (cannot bind: in use, no such
  // address), Internal (the server thread did not come up).
  static Result<std::unique_ptr<MetricsExporter>> Start(const ExporterOptions& options,
                                                        SampleSource source,
                                                        HealthCheck health = nullptr);

  // Stops if running.
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // Closes the listener, lets in-flight requests finish and joins the thread. Idempotent.
  void Stop();

  // The bound port (resolves port 0) and "host:port".
  uint16_t port() const { return port_; }
  std::string address() const;

 private:
  struct Impl;
  explicit MetricsExporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_METRICS_HTTP_EXPORTER_H_
