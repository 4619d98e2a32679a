#include "metrics/http_exporter.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

namespace kvstash {
namespace {

std::vector<MetricSample> OneSample(int* scrapes) {
  ++*scrapes;
  return {{"kvstash_scrapes_total",
           {},
           static_cast<double>(*scrapes),
           MetricType::kCounter,
           "Scrapes."}};
}

TEST(HttpExporterTest, ServesMetricsAndHealthOverHttp) {
  int scrapes = 0;
  std::atomic<bool> healthy{true};
  auto exporter = MetricsExporter::Start(
      {.listen = "127.0.0.1:0"}, [&] { return OneSample(&scrapes); },
      [&] { return healthy.load(); });
  ASSERT_TRUE(exporter.ok()) << exporter.status().ToString();
  ASSERT_NE((*exporter)->port(), 0);
  httplib::Client http("127.0.0.1", (*exporter)->port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body,
            "# HELP kvstash_scrapes_total Scrapes.\n"
            "# TYPE kvstash_scrapes_total counter\n"
            "kvstash_scrapes_total 1\n");
  EXPECT_EQ(res->get_header_value("Content-Type"), std::string(kPrometheusContentType));
  res = http.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  healthy = false;
  res = http.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  res = http.Get("/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  (*exporter)->Stop();
  (*exporter)->Stop();  // idempotent
  httplib::Client after("127.0.0.1", (*exporter)->port());
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/metrics"));  // the listener is closed
}

TEST(HttpExporterTest, BadSamplesGive500) {
  auto exporter = MetricsExporter::Start({.listen = "127.0.0.1:0"}, [] {
    return std::vector<MetricSample>{{"bad name", {}, 1, MetricType::kGauge, ""}};
  });
  ASSERT_TRUE(exporter.ok());
  httplib::Client http("127.0.0.1", (*exporter)->port());
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_NE(res->body.find("bad metric name"), std::string::npos);
}

TEST(HttpExporterTest, PortInUseAndBadAddressAreErrors) {
  auto first =
      MetricsExporter::Start({.listen = "127.0.0.1:0"}, [] { return std::vector<MetricSample>{}; });
  ASSERT_TRUE(first.ok());
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second =
      MetricsExporter::Start({.listen = taken}, [] { return std::vector<MetricSample>{}; });
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  auto bad = MetricsExporter::Start({.listen = "nope"}, [] { return std::vector<MetricSample>{}; });
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpExporterTest, StartStopManyTimes) {
  for (int i = 0; i < 20; ++i) {
    auto exporter = MetricsExporter::Start({.listen = "127.0.0.1:0"},
                                           [] { return std::vector<MetricSample>{}; });
    ASSERT_TRUE(exporter.ok());
  }  // destructor stops
}

}  // namespace
}  // namespace kvstash
