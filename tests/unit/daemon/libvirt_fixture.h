// The libvirt tests' shared pieces: libvirt's event loop registered on a GLib context of the test
// thread, a LoopInvoker on that context, and a way to turn it until a state holds. libvirt's
// test driver (test:///default) keeps one state for every connection of the process while one
// is open, so a test drives domains on its own connection and the code under test sees them.
#pragma once

#include <glib.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/glib_source.h"
#include "daemon/image_engine.h"
#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_event_loop.h"
#include "daemon/libvirt/libvirt_resolver.h"
#include "daemon/loop_invoker.h"
#include "daemon/service.h"
#include "tests/support/test_util.h"
#include "tests/unit/daemon/fakes.h"

namespace virtscratch::daemon::libvirt::testing {

inline GMainContext* testContext() {
  static GMainContext* context = g_main_context_new();
  return context;
}

inline void registerForTests() {
  ASSERT_TRUE(registerGLibEventLoop(testContext()).ok());
  quietLibvirtErrors();
}

class GLibInvoker final : public LoopInvoker {
 public:
  void post(std::function<void()> fn) override {
    g_source_unref(runOnce(testContext(), 0, std::move(fn)));
  }
};

// Iterates the test context until `done` holds; false at the deadline. A ticking timer bounds
// each blocking iteration so the deadline is noticed even when nothing happens.
inline bool spinUntil(const std::function<bool()>& done,
                      std::chrono::seconds deadline = std::chrono::seconds(20)) {
  GSource* tick = g_timeout_source_new(50);
  g_source_set_callback(
      tick, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
  g_source_attach(tick, testContext());
  auto end = std::chrono::steady_clock::now() + deadline;
  bool ok = true;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) {
      ok = false;
      break;
    }
    g_main_context_iteration(testContext(), TRUE);
  }
  g_source_destroy(tick);
  g_source_unref(tick);
  return ok;
}

// Runs what is ready now (events queued by libvirt, posted work), without waiting.
inline void drainReady() {
  for (int i = 0; i < 100 && g_main_context_iteration(testContext(), FALSE); ++i) {
  }
}

// The test driver opened by the test itself, the connection and resolver the code under test
// uses (not started: a test calls connection->start()), and a started Service over the pool
// `poolPath` with templates off.
class ServiceOnTestDriver : public ::testing::Test {
 protected:
  void start(const std::string& poolPath) {
    registerForTests();
    // Opened first and closed last: the test driver's state lives while a connection is open.
    driver.reset(virConnectOpen("test:///default"));
    ASSERT_TRUE(driver) << libvirtError("test:///default").message();
    connection = std::make_unique<LibvirtConnection>(
        LibvirtConnection::Options{.uri = "test:///default"}, testContext());
    resolver = std::make_unique<LibvirtResolver>(*connection);
    Config config;
    config.poolPath = poolPath;
    config.templateMode = TemplateMode::kOff;
    config.accessGroup = "nogroup";
    service = std::make_unique<Service>(config, invoker, listener, *resolver, engine);
    auto started = service->start();
    ASSERT_TRUE(started.ok()) << started.status().message();
  }

  // Starts the connection and runs the loop until the open (on its own thread) is adopted.
  void connect() {
    connection->start();
    ASSERT_TRUE(spinUntil([&] { return connection->connected(); }))
        << "the connection to test:///default was not adopted by the loop";
  }

  void TearDown() override {
    if (service) {
      bool stopped = false;
      service->shutdown(true, [&] { stopped = true; });
      EXPECT_TRUE(spinUntil([&] { return stopped; }));
    }
    service.reset();
    resolver.reset();
    connection.reset();
    driver.reset();
    drainReady();  // libvirt's deferred frees
  }

  // What the hook's Allocate does before the domain starts: a raw 16 MiB image.
  ImageRecord allocate(const std::string& uuid, const std::string& target,
                       vocabulary::Lifetime lifetime, bool incoming = false) {
    AllocateRequest r;
    r.domain = uuid;
    r.spec.image.size = 16 << 20;
    r.spec.sizeGiven = true;
    r.spec.image.format = image::ImageFormat::kRaw;
    r.spec.target = target;
    r.spec.lifetime = lifetime;
    r.spec.incoming = incoming;
    std::optional<Result<ImageRecord>> out;
    service->allocate({}, r, [&](Result<ImageRecord> result) { out.emplace(std::move(result)); });
    EXPECT_TRUE(spinUntil([&] { return out.has_value(); }));
    EXPECT_TRUE(out && out->ok()) << (out ? out->status().message() : "no answer");
    return out && out->ok() ? **out : ImageRecord{};
  }

  ::virtscratch::test::TempDir dir;
  ConnectPtr driver;
  GLibInvoker invoker;
  fake::FakeListener listener;
  EngineImageEngine engine;  // the watcher's tests check the images with blkid
  std::unique_ptr<LibvirtConnection> connection;
  std::unique_ptr<LibvirtResolver> resolver;
  std::unique_ptr<Service> service;
};

}  // namespace virtscratch::daemon::libvirt::testing
