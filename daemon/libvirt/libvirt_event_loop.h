// libvirt's event loop on a GLib main context: the six handle and timeout callbacks of
// virEventRegisterImpl, each backed by a GSource attached to `context`. GLib owns the loop;
// libvirt's connections (keepalive, close detection, domain events) are served by whoever runs
// that context (virt-scratchd's main loop).
//
// libvirt may call the callbacks from any thread, and from inside its own callbacks (a handle
// removed while it is dispatched); the free functions it hands in run later on the context's
// thread, never inside the remove call (libvirt may hold locks they take).
#pragma once

#include <glib.h>

#include "base/status.h"

namespace virtscratch::daemon::libvirt {

// Registers the implementation and calls virInitialize. Once per process, before the first
// virConnectOpen; calling it again with the same context does nothing, with another one fails.
Status registerGLibEventLoop(GMainContext* context);

}  // namespace virtscratch::daemon::libvirt
