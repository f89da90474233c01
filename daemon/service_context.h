// What the parts of the Service share: its configuration, the loop, the listener, the pool, the
// template cache, the jobs, the workers, the image engine, the store of disk keys and the metrics.
// Owned by the Service; loop thread.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "daemon/config.h"
#include "daemon/image_engine.h"
#include "daemon/jobs.h"
#include "daemon/loop_invoker.h"
#include "daemon/metrics.h"
#include "daemon/pool.h"
#include "daemon/secret_store.h"
#include "daemon/service.h"
#include "daemon/templates.h"
#include "daemon/worker_pool.h"

namespace virtscratch::daemon {

struct ServiceContext {
  const Config& config;
  LoopInvoker& loop;
  ServiceListener& listener;
  Pool& pool;
  TemplateCache& templates;
  JobTable& jobs;
  WorkerPool& workers;
  ImageEngine& engine;    // any thread
  SecretStore*& secrets;  // the keys of encrypted images (Service::setSecretStore)
  Metrics& metrics;
  std::weak_ptr<void> alive;  // expires when the Service is destroyed

  // Any thread: runs `fn` on the loop thread, unless the Service is gone by then.
  void post(std::function<void()> fn) const {
    loop.post([alive = alive, fn = std::move(fn)] {
      if (!alive.expired()) fn();
    });
  }
  // Loop thread: runs `fn` on the loop after about `delayMs`, unless the Service is gone by then.
  void postAfter(unsigned delayMs, std::function<void()> fn) const {
    loop.postAfter(delayMs, [alive = alive, fn = std::move(fn)] {
      if (!alive.expired()) fn();
    });
  }
};

}  // namespace virtscratch::daemon
