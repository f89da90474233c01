// The libvirt functions `virt-scratch enable` and `disable` use, loaded with dlopen when one of
// them first needs libvirt rather than linked: libvirt and the sixty-odd libraries it pulls in
// (GnuTLS, libssh, ...) cost every run of virt-scratch about 8 ms and 10 MiB of RSS when linked,
// and create, info, export and the daemon's client commands never call them. The types come
// from libvirt's headers, so the signatures are checked at compile time. Single-threaded.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/status.h"

namespace virtscratch::cli {

struct LibvirtApi {
  decltype(&::virConnectOpen) connectOpen;
  decltype(&::virConnectClose) connectClose;
  decltype(&::virConnectGetURI) connectGetURI;
  decltype(&::virDomainLookupByName) domainLookupByName;
  decltype(&::virDomainLookupByUUIDString) domainLookupByUUIDString;
  decltype(&::virDomainFree) domainFree;
  decltype(&::virDomainGetName) domainGetName;
  decltype(&::virDomainGetUUIDString) domainGetUUIDString;
  decltype(&::virDomainIsActive) domainIsActive;
  decltype(&::virDomainIsPersistent) domainIsPersistent;
  decltype(&::virDomainGetXMLDesc) domainGetXMLDesc;
  decltype(&::virDomainDefineXML) domainDefineXML;
  decltype(&::virDomainAttachDeviceFlags) domainAttachDeviceFlags;
  decltype(&::virDomainDetachDeviceFlags) domainDetachDeviceFlags;
  decltype(&::virDomainSetMetadata) domainSetMetadata;
  decltype(&::virGetLastErrorCode) getLastErrorCode;
  decltype(&::virGetLastErrorMessage) getLastErrorMessage;
  decltype(&::virSetErrorFunc) setErrorFunc;
};

// Loads libvirt.so.0 the first time (later calls return the same); the error names the library
// or the missing function and what to install.
Result<const LibvirtApi*> loadLibvirt();

// The API loadLibvirt() loaded. Only after it succeeded: every libvirt handle there is was made
// through it.
const LibvirtApi& libvirt();

}  // namespace virtscratch::cli
