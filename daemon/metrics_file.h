// [metrics] textfile: the metrics text written where node_exporter's textfile collector reads it.
// The file is replaced atomically: written under a hidden name beside it (".NAME.tmp", which the
// collector, reading only *.prom, skips), fsynced, made readable by everyone (0644) and renamed
// over it, so a scrape sees the old text or the new, never half of one. The directory is reached
// one component at a time with O_NOFOLLOW, so a symlink planted on the way is not followed, and
// the rename replaces whatever is at NAME (a symlink there is replaced, not written through).
// Any thread.
#pragma once

#include <string>

#include "base/status.h"

namespace virtscratch::daemon {

Status writeMetricsFile(const std::string& path, const std::string& text);

}  // namespace virtscratch::daemon
