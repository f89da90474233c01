#include "cli/client/libvirt_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace virtscratch::cli {
namespace {

constexpr char kLibrary[] = "libvirt.so.0";

LibvirtApi api;
bool loaded = false;

template <typename Function>
bool bind(void* library, const char* name, Function& out, std::string& missing) {
  out = reinterpret_cast<Function>(dlsym(library, name));
  if (out == nullptr && missing.empty()) missing = name;
  return out != nullptr;
}

}  // namespace

Result<const LibvirtApi*> loadLibvirt() {
  if (loaded) return &api;
  // Never closed: libvirt keeps threads and handlers that outlive any one call.
  void* library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return failed(std::string("cannot load ") + kLibrary + " (" + (why ? why : "unknown error") +
                  "); enable and disable need libvirt's client library: apt-get install libvirt0");
  }
  std::string missing;
  bind(library, "virConnectOpen", api.connectOpen, missing);
  bind(library, "virConnectClose", api.connectClose, missing);
  bind(library, "virConnectGetURI", api.connectGetURI, missing);
  bind(library, "virDomainLookupByName", api.domainLookupByName, missing);
  bind(library, "virDomainLookupByUUIDString", api.domainLookupByUUIDString, missing);
  bind(library, "virDomainFree", api.domainFree, missing);
  bind(library, "virDomainGetName", api.domainGetName, missing);
  bind(library, "virDomainGetUUIDString", api.domainGetUUIDString, missing);
  bind(library, "virDomainIsActive", api.domainIsActive, missing);
  bind(library, "virDomainIsPersistent", api.domainIsPersistent, missing);
  bind(library, "virDomainGetXMLDesc", api.domainGetXMLDesc, missing);
  bind(library, "virDomainDefineXML", api.domainDefineXML, missing);
  bind(library, "virDomainAttachDeviceFlags", api.domainAttachDeviceFlags, missing);
  bind(library, "virDomainDetachDeviceFlags", api.domainDetachDeviceFlags, missing);
  bind(library, "virDomainSetMetadata", api.domainSetMetadata, missing);
  bind(library, "virGetLastErrorCode", api.getLastErrorCode, missing);
  bind(library, "virGetLastErrorMessage", api.getLastErrorMessage, missing);
  bind(library, "virSetErrorFunc", api.setErrorFunc, missing);
  if (!missing.empty()) {
    return failed(std::string(kLibrary) + " has no " + missing +
                  "; enable and disable need libvirt 4.5 or later");
  }
  loaded = true;
  return &api;
}

const LibvirtApi& libvirt() {
  if (!loaded) std::abort();  // a handle without the library: a bug, not an input
  return api;
}

}  // namespace virtscratch::cli
