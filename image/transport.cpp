#include "image/transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "image/disk_view.h"
#include "image/gzip_import.h"
#include "image/open_image.h"
#include "image/output_path.h"
#include "image/qcow2_writer.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kZeroBlock = 4096;

bool allZero(const uint8_t* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

// Copies the guest bytes of `view` into `outFd` (sized already), writing only non-zero blocks.
// Progress is the guest offset reached of the virtual size.
Status copySparse(const DiskView& view, int outFd, ProgressSink* progress) {
  const uint64_t total = view.virtualSize();
  std::vector<uint8_t> buf(4 * kMiB);
  ExtentWalker walker(view);
  for (;;) {
    VS_ASSIGN_OR_RETURN(std::optional<Extent> next, walker.next());
    if (!next) break;
    const Extent e = *next;
    for (uint64_t pos = e.offset; pos < e.end();) {
      if (progress != nullptr && progress->cancelled()) {
        return {ErrorCode::kCancelled, "interrupted"};
      }
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), e.end() - pos));
      VS_RETURN_IF_ERROR(view.read(pos, std::span<uint8_t>(buf.data(), n)));
      for (size_t off = 0; off < n;) {
        // Blocks aligned to the output, so that holes land on whole filesystem blocks.
        size_t len =
            static_cast<size_t>(std::min<uint64_t>(n - off, kZeroBlock - (pos + off) % kZeroBlock));
        if (!allZero(buf.data() + off, len)) {
          VS_RETURN_IF_ERROR(writeAll(outFd, buf.data() + off, len, pos + off));
        }
        off += len;
      }
      pos += n;
      if (progress != nullptr) progress->report(pos, total);
    }
  }
  return {};
}

Status sizeFile(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return errnoStatus("set file size", errno);
  return {};
}

// Turns a finished sparse raw file into a qcow2 image in `out`.
Status rawToQcow2(int rawFd, uint64_t size, int outFd, ProgressSink* progress) {
  VS_ASSIGN_OR_RETURN(auto extents, dataExtents(rawFd, 0, size));
  std::vector<SourceExtent> sources;
  sources.reserve(extents.size());
  for (const Extent& e : extents) sources.push_back({e.offset, e.length, rawFd, e.offset});
  Qcow2WriteOptions options;
  options.virtualSize = size;
  options.progress = progress;
  return writeQcow2(outFd, options, sources);
}

Result<bool> startsWithGzipMagic(int fd) {
  uint8_t magic[2] = {};
  ssize_t n = pread(fd, magic, sizeof magic, 0);
  if (n < 0) return errnoStatus("read", errno);
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

Status exportImage(const ExportRequest& request) {
  OpenOptions options = cliOpenOptions(request.format);
  options.passphrase = request.passphrase;
  VS_ASSIGN_OR_RETURN(auto view, openImage(request.image, options));
  if (request.output == "-") {
    return exportGzip(*view, STDOUT_FILENO, request.gzip)
        .withContext("export of '" + request.image + "' to standard output failed");
  }
  VS_ASSIGN_OR_RETURN(OutputPath out, openOutputPath(request.output));
  VS_RETURN_IF_ERROR(checkDestination(out.dir.get(), out.name, request.force));
  VS_ASSIGN_OR_RETURN(TempFile file, TempFile::create(out.dir.get()));
  Status status = exportGzip(*view, file.fd(), request.gzip);
  if (status.ok()) {
    if (request.gzip.progress != nullptr && request.gzip.progress->cancelled()) {
      status = {ErrorCode::kCancelled, "interrupted"};
    } else {
      status = file.publish(out.name, request.force);
    }
  }
  if (!status.ok() && status.code() != ErrorCode::kAlreadyExists) {
    return notWritten(status, out.dir.get(), out.name, request.output);
  }
  return status;
}

Status importImage(const ImportRequest& request) {
  UniqueFd inFd;
  bool fromStdin = request.input == "-";
  if (fromStdin) {
    inFd.reset(fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0));
    if (!inFd) return errnoStatus("standard input", errno);
  } else {
    inFd.reset(open(request.input.c_str(), O_RDONLY | O_CLOEXEC));
    if (!inFd) return errnoStatus("open '" + request.input + "'", errno);
  }
  struct stat st;
  if (fstat(inFd.get(), &st) != 0) return errnoStatus("stat '" + request.input + "'", errno);
  bool seekable = S_ISREG(st.st_mode);
  if (!seekable && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode)) {
    return invalidArgument("'" + request.input + "' is not a file or a stream");
  }
  // The input's kind is what the user says, never guessed: gzip unless --from names an image
  // format, and then it must be a file the image reader can seek in.
  const bool gzip = !request.from.has_value();
  if (!gzip && !seekable) {
    return invalidArgument("'" + request.input + "' is not a regular file; --from " +
                           std::string(toString(*request.from)) + " reads image files only");
  }
  if (gzip && seekable) {
    VS_ASSIGN_OR_RETURN(bool magic, startsWithGzipMagic(inFd.get()));
    if (!magic) {
      return invalidArgument("'" + request.input +
                             "' is not gzip (it does not start with 1f 8b); give --from raw or "
                             "--from qcow2 to import an image file");
    }
  }

  VS_ASSIGN_OR_RETURN(OutputPath out, openOutputPath(request.output));
  VS_RETURN_IF_ERROR(checkDestination(out.dir.get(), out.name, request.force));
  VS_ASSIGN_OR_RETURN(TempFile raw, TempFile::create(out.dir.get()));
  uint64_t size = 0;
  Status status;
  if (gzip) {
    ImportOptions options;
    options.progress = request.progress;
    auto imported = importGzip(inFd.get(), raw.fd(), options);
    status = imported.status();
    if (imported.ok()) size = *imported;
  } else {
    // A raw or qcow2 image, as the user named it, converted to a sparse copy.
    auto view = openImage(std::move(inFd), request.input, cliOpenOptions(request.from));
    status = view.status();
    if (view.ok()) {
      size = (*view)->virtualSize();
      status = sizeFile(raw.fd(), size);
      if (status.ok()) status = copySparse(**view, raw.fd(), request.progress);
    }
  }
  if (status.ok() && request.progress != nullptr && request.progress->cancelled()) {
    status = {ErrorCode::kCancelled, "interrupted"};
  }
  if (status.ok()) {
    if (request.format == ImageFormat::kRaw) {
      status = raw.publish(out.name, request.force);
    } else {
      auto qcow2 = TempFile::create(out.dir.get());
      status = qcow2.status();
      if (status.ok()) status = rawToQcow2(raw.fd(), size, qcow2->fd(), request.progress);
      if (status.ok()) status = qcow2->publish(out.name, request.force);
    }
  }
  if (!status.ok() && status.code() != ErrorCode::kAlreadyExists) {
    return notWritten(status, out.dir.get(), out.name, request.output);
  }
  return status;
}

}  // namespace virtscratch::image
