// An owned use of a template of the cache (templates.h): an overlay backed by it, or a clone of
// it in progress. While any TemplateRef of a template exists the cache keeps the template; the
// use ends when the last copy is dropped, so no count is kept by hand and none can be forgotten.
// Loop thread (copies may be destroyed anywhere: the count is shared_ptr's).
#pragma once

#include <memory>
#include <string>

namespace virtscratch::daemon {

struct TemplateUse {
  std::string name;  // the template's name in the cache
};

using TemplateRef = std::shared_ptr<const TemplateUse>;

}  // namespace virtscratch::daemon
