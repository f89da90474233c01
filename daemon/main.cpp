// virt-scratchd: wires the configuration, the GLib main loop, the Service and its bus face
// together. Everything here runs on the main (loop) thread except LoopInvoker::post().
#include <glib-unix.h>
#include <glib.h>
#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "daemon/dbus/bus_source.h"
#include "daemon/dbus/object_tree.h"
#include "daemon/event_log.h"
#include "daemon/glib_source.h"
#include "daemon/image_engine.h"
#include "daemon/libvirt/attachment_probe.h"
#include "daemon/libvirt/connection_metrics.h"
#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_event_loop.h"
#include "daemon/libvirt/libvirt_resolver.h"
#include "daemon/libvirt/libvirt_secret_store.h"
#include "daemon/libvirt/lifecycle_watcher.h"
#include "daemon/log.h"
#include "daemon/loop_invoker.h"
#include "daemon/metrics_publisher.h"
#include "daemon/service.h"
#include "vocabulary/bus_names.h"
#include "vocabulary/domain_uuid.h"

namespace virtscratch::daemon {
namespace {

constexpr char kDefaultConfig[] = "/etc/virt-scratch/virt-scratchd.conf";

constexpr char kUsage[] =
    "Usage: virt-scratchd [--config FILE]\n"
    "\n"
    "The virt-scratch system service: owns the scratch image pool and serves\n"
    "org.virtscratch.Scratch1 on the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured).\n"
    "Normally started by systemd (virt-scratchd.service).\n"
    "\n"
    "Options:\n"
    "  --config FILE   configuration file (default /etc/virt-scratch/virt-scratchd.conf);\n"
    "                  drop-ins are read from FILE.d/*.conf\n"
    "  --version       print the version\n"
    "  -h, --help      show this help\n";

// Hands work from worker threads to the loop with an idle source at default priority, so it
// is not starved by a busy bus. g_main_context_invoke would run `fn` at once when called on
// the loop thread, which the LoopInvoker contract forbids.
class GLibLoopInvoker final : public LoopInvoker {
 public:
  explicit GLibLoopInvoker(GMainContext* context) : context_(context) {}

  void post(std::function<void()> fn) override {
    g_source_unref(runOnce(context_, 0, std::move(fn), G_PRIORITY_DEFAULT));
  }
  void postAfter(unsigned delayMs, std::function<void()> fn) override {
    g_source_unref(runOnce(context_, delayMs, std::move(fn), G_PRIORITY_DEFAULT));
  }

 private:
  GMainContext* context_;
};

// Without libvirt ([libvirt] uri empty) only UUIDs identify domains. The Service has checked
// the text's shape already (not empty, no '/' or control characters).
class NoLibvirtResolver final : public DomainResolver {
 public:
  Result<DomainId> resolve(std::string_view given) override {
    if (!vocabulary::isUuid(given)) {
      return Status(ErrorCode::kNotFound,
                    "domain '" + std::string(given) +
                        "' not found: libvirt is not configured ([libvirt] uri is empty in "
                        "virt-scratchd.conf), so give the domain's UUID");
    }
    DomainId id;
    id.uuid = vocabulary::normaliseUuid(given);
    return id;
  }
};

struct Options {
  std::string config = kDefaultConfig;
};

// 0: go on; otherwise the exit status.
int parseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return -1;
    }
    if (arg == "--version") {
      std::printf("virt-scratchd %s\n", VIRTSCRATCH_VERSION);
      return -1;
    }
    if (arg == "--config" && i + 1 < argc) {
      options.config = argv[++i];
    } else if (arg.starts_with("--config=")) {
      options.config = std::string(arg.substr(9));
    } else {
      std::fprintf(stderr, "virt-scratchd: unknown argument '%s'; see --help\n", argv[i]);
      return 2;
    }
  }
  return 0;
}

// Pings systemd's watchdog at half its interval while the loop turns (WATCHDOG_USEC set).
// Returns the timer's source id, 0 when there is no watchdog.
guint startWatchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return 0;
  auto intervalMs = static_cast<guint>(std::max<uint64_t>(usec / 2000, 1));
  return g_timeout_add(
      intervalMs,
      [](gpointer) -> gboolean {
        sd_notify(0, "WATCHDOG=1");
        return G_SOURCE_CONTINUE;
      },
      nullptr);
}

struct Daemon {
  GMainLoop* loop = nullptr;
  Service* service = nullptr;
  std::string configPath;
  // As the daemon started with it: the keys that need a restart still have these values, so a
  // reload compares against them, not against the file read at the last reload.
  Config started;
  bool stopping = false;
  int exitCode = 0;

  // SIGHUP (systemctl reload): a configuration that does not load changes nothing.
  void reload() {
    Result<Config> next = loadConfig(configPath);
    const std::string failed =
        "reloading the configuration failed; the daemon keeps the one it has: ";
    if (!next.ok()) {
      logLine(LogLevel::kError, failed + next.status().message());
      return;
    }
    if (Status s = service->reconfigure(*next); !s.ok()) {
      logLine(LogLevel::kError, failed + s.message());
      return;
    }
    std::string kept;
    for (const std::string& key : keysNeedingRestart(started, *next)) {
      kept += (kept.empty() ? "" : ", ") + key;
    }
    logLine(LogLevel::kNotice,
            "configuration reloaded from " + configPath +
                (kept.empty() ? std::string()
                              : "; changed keys that take effect only after a restart: " + kept));
  }

  // Stops taking work, lets what runs finish, then leaves the loop.
  void stop(bool cancel) {
    if (stopping) return;
    stopping = true;
    sd_notify(0, "STOPPING=1");
    service->shutdown(cancel, [this] { g_main_loop_quit(loop); });
  }
};

int run(const Options& options) {
  Result<Config> config = loadConfig(options.config);
  if (!config.ok()) {
    logLine(LogLevel::kError, config.status().message());
    return 1;
  }
  const std::string poolPath = config->poolPath;
  const uint32_t refreshSeconds = config->refreshSeconds;
  const std::string metricsTextfile = config->metricsTextfile;
  Daemon daemon;
  daemon.configPath = options.config;
  daemon.started = *config;
  if (!config->accessGroup.empty()) {
    logLine(LogLevel::kWarning,
            "[access] group = " + config->accessGroup +
                " is ignored: polkit decides who may change the pool (actions "
                "org.virtscratch.scratch1.*); grant a group in a polkit rules file, see "
                "60-org.virtscratch.scratch1.rules");
  }

  GMainContext* context = g_main_context_default();
  std::unique_ptr<GMainLoop, decltype(&g_main_loop_unref)> loop(g_main_loop_new(context, FALSE),
                                                                g_main_loop_unref);
  GLibLoopInvoker invoker(context);
  NoLibvirtResolver noLibvirtResolver;
  DomainResolver* resolver = &noLibvirtResolver;
  // [libvirt] uri set: names are looked up, and the watcher follows the domains once the pool
  // is open. libvirt's event loop runs on this loop, registered before any connection opens.
  libvirt::ConnectionMetrics connectionMetrics;  // outlives the connection it observes
  std::unique_ptr<libvirt::LibvirtConnection> libvirtConnection;
  std::unique_ptr<libvirt::LibvirtResolver> libvirtResolver;
  if (!config->libvirtUri.empty()) {
    if (Status s = libvirt::registerGLibEventLoop(context); !s.ok()) {
      logLine(LogLevel::kError, s.message());
      return 1;
    }
    libvirt::quietLibvirtErrors();
    libvirtConnection = std::make_unique<libvirt::LibvirtConnection>(
        libvirt::LibvirtConnection::Options{.uri = config->libvirtUri}, context);
    libvirtResolver = std::make_unique<libvirt::LibvirtResolver>(*libvirtConnection);
    resolver = libvirtResolver.get();
  }

  std::unique_ptr<sdbus::IConnection> connection;
  try {
    connection = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    logLine(LogLevel::kError, "cannot connect to the system bus: " + e.getMessage());
    return 1;
  }

  bus::ObjectTree tree(*connection, VIRTSCRATCH_VERSION);
  EngineImageEngine engine;
  EventLog eventLog(tree);
  Service service(std::move(config).value(), invoker, eventLog, *resolver, engine);
  // Encrypted images' keys go to libvirt from the first Allocate on (QEMU takes them from there).
  std::unique_ptr<libvirt::LibvirtSecretStore> secretStore;
  if (libvirtConnection) {
    secretStore =
        std::make_unique<libvirt::LibvirtSecretStore>(*libvirtConnection, invoker, context);
    service.setSecretStore(secretStore.get());
  }
  std::function<LibvirtMetrics()> libvirtMetrics;
  if (libvirtConnection) {
    libvirtConnection->addObserver(&connectionMetrics);
    libvirtMetrics = [&connectionMetrics] { return connectionMetrics.metrics(); };
  }
  MetricsPublisher metrics(service, VIRTSCRATCH_VERSION, metricsTextfile, libvirtMetrics);
  tree.setMetricsSource([&metrics] { return metrics.text(); });
  Result<std::string> started = service.start();
  if (!started.ok()) {
    logLine(LogLevel::kError,
            "cannot open the pool " + poolPath + ": " + started.status().message());
    return 1;
  }
  logLine(LogLevel::kInfo, *started);

  daemon.loop = loop.get();
  daemon.service = &service;
  // From here on SIGTERM and SIGINT wait for the loop, which finishes the work first.
  auto onSignal = [](gpointer data) -> gboolean {
    auto* d = static_cast<Daemon*>(data);
    if (!d->stopping) logLine(LogLevel::kInfo, "stopping: finishing the work in progress");
    d->stop(false);
    return G_SOURCE_CONTINUE;
  };
  g_unix_signal_add(SIGTERM, onSignal, &daemon);
  g_unix_signal_add(SIGINT, onSignal, &daemon);
  g_unix_signal_add(
      SIGHUP,
      [](gpointer data) -> gboolean {
        auto* d = static_cast<Daemon*>(data);
        if (!d->stopping) d->reload();
        return G_SOURCE_CONTINUE;
      },
      &daemon);
  // A connection cannot be carried over to a new bus (its names and matches are gone with the
  // old one): the daemon ends with a failure, and the unit's Restart=on-failure starts it again.
  bus::BusSource busSource(*connection, context, [&daemon](const std::string& why) {
    logLine(LogLevel::kError, why + "; exiting with status 1 to be restarted");
    daemon.exitCode = 1;
    daemon.stop(true);
  });
  try {
    tree.attach(service);
    connection->requestName(vocabulary::kBusName);
  } catch (const sdbus::Error& e) {
    logLine(LogLevel::kError, "cannot serve " + std::string(vocabulary::kBusName) +
                                  " on the system bus: " + e.getMessage() +
                                  " (is the bus policy org.virtscratch.Scratch1.conf installed?)");
    return 1;
  }

  guint watchdog = startWatchdog();
  metrics.refresh();
  guint refresh = g_timeout_add_seconds(
      refreshSeconds,
      [](gpointer data) -> gboolean {
        static_cast<MetricsPublisher*>(data)->refresh();
        return G_SOURCE_CONTINUE;
      },
      &metrics);
  std::unique_ptr<libvirt::LifecycleWatcher> watcher;
  // Without libvirt there is no probe: nothing is known of running domains, release is allowed.
  std::unique_ptr<libvirt::LibvirtAttachmentProbe> probe;
  if (libvirtConnection) {
    probe = std::make_unique<libvirt::LibvirtAttachmentProbe>(*libvirtConnection, invoker);
    service.setAttachmentProbe(probe.get());
    watcher = std::make_unique<libvirt::LifecycleWatcher>(service, *libvirtConnection, invoker);
    libvirtConnection->start();
  }

  sd_notify(0, "READY=1\nSTATUS=Serving org.virtscratch.Scratch1");
  logLine(LogLevel::kInfo,
          "serving " + std::string(vocabulary::kBusName) + " with the pool " + poolPath);
  g_main_loop_run(loop.get());

  // The signal sources stay: removing them would restore SIGTERM's default action, and a
  // second SIGTERM during the teardown would end the process with it.
  if (watchdog != 0) g_source_remove(watchdog);
  g_source_remove(refresh);
  watcher.reset();  // before the Service it calls
  if (libvirtConnection) libvirtConnection->removeObserver(&connectionMetrics);
  service.setAttachmentProbe(nullptr);
  probe.reset();
  service.setSecretStore(nullptr);
  secretStore.reset();
  tree.detach();
  logLine(LogLevel::kInfo, daemon.exitCode == 0 ? "stopped" : "stopped after an error");
  return daemon.exitCode;
}

}  // namespace
}  // namespace virtscratch::daemon

int main(int argc, char** argv) {
  virtscratch::daemon::Options options;
  int parsed = virtscratch::daemon::parseOptions(argc, argv, options);
  if (parsed != 0) return parsed < 0 ? 0 : parsed;
  // A client that goes away mid-reply must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  // The tools it runs (mke2fs, qemu-img...) are found on PATH. systemd sets one; the bus's
  // launch helper, which starts it on a first call where the bus does not hand activation to
  // systemd, starts it with an empty environment: use systemd's default then.
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
  return virtscratch::daemon::run(options);
}
