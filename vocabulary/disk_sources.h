// The disks a libvirt domain definition already has: for each <devices><disk>, its target device
// (<target dev='vdb'/>) and the file or block device it reads (<source file=...> or dev=...).
// The hook checks that the image the daemon made is the file the domain will open; the CLI's
// enable sees whether a target is taken. Read with the same hardened parser as the metadata
// (domain/xml_document.h). Pure, any thread.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::vocabulary {

// Target device -> source path ("" when the disk has no file or dev source: network, empty
// cdrom). Errors (kInvalidArgument) as parseDomainXml's for malformed or hostile XML.
Result<std::map<std::string, std::string>> diskSources(std::string_view domainXml);

// The target devices whose <disk> has <encryption format='luks'> (the hook's `migrate begin`
// makes those images encrypted, as the source's are). Errors as diskSources'.
Result<std::set<std::string>> luksDiskTargets(std::string_view domainXml);

}  // namespace virtscratch::vocabulary
