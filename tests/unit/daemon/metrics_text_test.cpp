// The metrics text: cumulative histogram buckets, every fixed label value present from the start
// (so a rate() has a series to start from), counts by state and lifetime, and no label value a
// caller chose.
#include "daemon/metrics_text.h"

#include <gtest/gtest.h>

#include <string>

namespace virtscratch::daemon {
namespace {

bool hasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

ImageRecord record(ImageState state, vocabulary::Lifetime lifetime) {
  ImageRecord r;
  r.state = state;
  r.lifetime = lifetime;
  return r;
}

TEST(MetricsText, BucketsAreCumulativeAndEndInTheCount) {
  Metrics m;
  m.allocated(AllocatePath::kSpare, 0.004);
  m.allocated(AllocatePath::kSpare, 0.02);
  m.allocated(AllocatePath::kSpare, 45);
  MetricsView view;
  view.counters = &m;
  std::string text = metricsText(view);
  const std::string b = "virtscratch_allocate_duration_seconds_bucket{path=\"spare\",le=";
  EXPECT_TRUE(hasLine(text, b + "\"0.005\"} 1")) << text;
  EXPECT_TRUE(hasLine(text, b + "\"0.01\"} 1"));
  EXPECT_TRUE(hasLine(text, b + "\"0.025\"} 2"));
  EXPECT_TRUE(hasLine(text, b + "\"30\"} 2"));
  EXPECT_TRUE(hasLine(text, b + "\"+Inf\"} 3"));
  EXPECT_TRUE(hasLine(text, "virtscratch_allocate_duration_seconds_count{path=\"spare\"} 3"));
  EXPECT_TRUE(hasLine(text, "virtscratch_allocate_duration_seconds_sum{path=\"spare\"} 45.024"));
  EXPECT_TRUE(hasLine(text, "virtscratch_allocate_duration_seconds_count{path=\"cold\"} 0"));
}

TEST(MetricsText, CountsImagesByStateAndLifetimeWithEveryPairPresent) {
  ImageRecord a = record(ImageState::kAttached, vocabulary::Lifetime::kBoot);
  ImageRecord b = record(ImageState::kAttached, vocabulary::Lifetime::kBoot);
  ImageRecord c = record(ImageState::kReady, vocabulary::Lifetime::kManual);
  MetricsView view;
  view.images = {&a, &b, &c};
  std::string text = metricsText(view);
  EXPECT_TRUE(hasLine(text, "virtscratch_images{state=\"attached\",lifetime=\"boot\"} 2")) << text;
  EXPECT_TRUE(hasLine(text, "virtscratch_images{state=\"ready\",lifetime=\"manual\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_images{state=\"creating\",lifetime=\"domain\"} 0"));
}

TEST(MetricsText, RequestsAndJobsStartAtZeroAndCountByTheirFixedLabels) {
  Metrics m;
  m.request("allocate", "hook");
  m.request("allocate", "hook");
  m.request("release", "bus");
  m.jobEnded("export", "cancelled");
  MetricsView view;
  view.counters = &m;
  std::string text = metricsText(view);
  EXPECT_TRUE(hasLine(text, "virtscratch_requests_total{method=\"allocate\",origin=\"hook\"} 2"))
      << text;
  EXPECT_TRUE(hasLine(text, "virtscratch_requests_total{method=\"release\",origin=\"bus\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_requests_total{method=\"allocate\",origin=\"cli\"} 0"));
  EXPECT_TRUE(
      hasLine(text, "virtscratch_jobs_total{operation=\"export\",outcome=\"cancelled\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_jobs_total{operation=\"allocate\",outcome=\"ok\"} 0"));
}

TEST(MetricsText, ShowsThePoolsSpaceStateAndTheLibvirtConnection) {
  MetricsView view;
  view.pool.allocated = 123;
  view.pool.spaceState = SpaceState::kReserve;
  view.libvirt = {.configured = true, .connected = false, .connects = 3, .losses = 3};
  std::string text = metricsText(view);
  EXPECT_TRUE(hasLine(text, "virtscratch_pool_allocated_bytes 123")) << text;
  EXPECT_TRUE(hasLine(text, "virtscratch_pool_space_state{state=\"reserve\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_pool_space_state{state=\"ok\"} 0"));
  EXPECT_TRUE(hasLine(text, "virtscratch_libvirt_connected 0"));
  EXPECT_TRUE(hasLine(text, "virtscratch_libvirt_connects_total 3"));
  EXPECT_TRUE(hasLine(text, "virtscratch_libvirt_disconnects_total 3"));
}

}  // namespace
}  // namespace virtscratch::daemon
