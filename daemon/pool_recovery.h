// What start() does to the pool after a restart or a crash: walks <pool>/<domain uuid>/ without
// ever following a symlink, deletes temporary files, images without a record (an allocation
// that died before its record was written) and records without an image (a release that died
// half-way), removes empty domain directories, and reads the records of the images that remain.
// Anything it does not recognise (symlinks, foreign files, unreadable records and their images)
// is left alone and named in the report. <pool>/.templates is the TemplateCache's; <pool>/.staging
// (content copies, content_staging.h) is removed whole, counted as one temporary file.
// In a shared pool (shared_pool.h) it takes only the images whose records name this host (or no
// host), leaves the other hosts' images, template directories and adoption markers alone without
// naming them, and deletes nothing that may be another host's work in progress: temporary
// files, images without a record, .staging and empty domain directories stay (named). An image
// another host owns and this host's adoption marker names is taken as `adopting` (the adoption
// goes on); one of this host's that another host's marker names is left alone (named).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "daemon/record_file.h"

namespace virtscratch::daemon {

struct Recovery {
  std::vector<StoredRecord> images;
  int temporaryFiles = 0;
  int halfMadeImages = 0;
  int orphanRecords = 0;
  // Domain UUID and target of each orphan record of an encrypted image: its key may still be kept
  // (a release that died after the image went), and is dropped by the Service.
  std::vector<std::pair<std::string, std::string>> orphanKeys;
  int emptyDirectories = 0;
  int otherHosts = 0;                  // images of a shared pool that other hosts own
  std::vector<std::string> leftAlone;  // "'<relative path>' (why)"
  // Files and directories made before they were private (file_modes.h): "'<path>' 0644 -> 0600".
  std::vector<std::string> tightened;

  // "cleaned 2 temporary files, 1 half-made image; left alone: 'x' (symlink)".
  std::string summary() const;
};

// Whose pool it is: a host's own (shared false), or a shared pool's, seen by `host`.
struct PoolOwner {
  bool shared = false;
  std::string host;
};

Result<Recovery> recoverPool(int poolFd, const std::string& poolPath, const PoolOwner& owner = {});

// True for names of temporary files the daemon or the engine may leave after a crash:
// ".virt-scratch-tmp-*" and "*.record.tmp*".
bool isTemporaryName(std::string_view name);

// Names of a directory's entries ("." and ".." left out); never follows a symlink.
Result<std::vector<std::string>> listDirectory(int dirFd);

}  // namespace virtscratch::daemon
