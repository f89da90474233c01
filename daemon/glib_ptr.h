// Owners for the few GLib objects the core uses (GKeyFile for the configuration and the records).
#pragma once

#include <glib.h>

#include <memory>

namespace virtscratch::daemon {

struct GKeyFileFree {
  void operator()(GKeyFile* f) const { g_key_file_free(f); }
};
struct GErrorFree {
  void operator()(GError* e) const { g_error_free(e); }
};
struct GCharFree {
  void operator()(gchar* s) const { g_free(s); }
};
struct GStrvFree {
  void operator()(gchar** v) const { g_strfreev(v); }
};

using KeyFilePtr = std::unique_ptr<GKeyFile, GKeyFileFree>;
using ErrorPtr = std::unique_ptr<GError, GErrorFree>;
using GCharPtr = std::unique_ptr<gchar, GCharFree>;
using StrvPtr = std::unique_ptr<gchar*, GStrvFree>;

inline KeyFilePtr newKeyFile() { return KeyFilePtr(g_key_file_new()); }

}  // namespace virtscratch::daemon
