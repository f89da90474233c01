#include "image/gzip_export.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "image/gzip_deflate_pieces.h"
#include "image/gzip_zeros.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kChunk = 4 * kMiB;        // guest bytes per unit of work
constexpr uint64_t kDictionary = 32 * kKiB;  // deflate's window
constexpr size_t kFlushAt = 1 * kMiB;        // small pieces are batched into writes of this size
constexpr unsigned kMaxThreads = 64;

Status cancelledStatus() { return {ErrorCode::kCancelled, "gzip export was cancelled"}; }

// write() until done: the output may be a pipe, so no offsets.
Status writeSequential(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("write the gzip stream", errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

void putLe32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Data extents cut into jobs of at most kChunk, made as they are needed so that memory does not
// grow with the number of extents; a job that continues an extent is primed with the end of the
// previous job.
class JobSource {
 public:
  explicit JobSource(const DiskView& disk) : walker_(disk) {}

  Result<std::optional<DeflateJob>> next() {
    if (at_ >= extent_.end()) {
      VS_ASSIGN_OR_RETURN(std::optional<Extent> e, walker_.next());
      if (!e) return std::optional<DeflateJob>();
      extent_ = *e;
      at_ = e->offset;
    }
    DeflateJob job{at_, std::min(kChunk, extent_.end() - at_),
                   std::min(kDictionary, at_ - extent_.offset)};
    at_ += job.length;
    return std::optional<DeflateJob>(job);
  }

 private:
  ExtentWalker walker_;
  Extent extent_;
  uint64_t at_ = 0;
};

// Compresses jobs on worker threads into a ring of slots, so at most slots.size() jobs and
// results are held at once, and hands them to the writing thread in job order. Created and
// driven by the thread that exports, which submits the jobs in order; each worker touches only
// its compressor and the slot of the job it took.
class CompressionPipeline {
 public:
  struct Slot {
    bool ready = false;
    DeflateJob job;
    Status status;
    uint32_t crc = 0;
    std::vector<uint8_t> data;
  };

  explicit CompressionPipeline(unsigned threads) : slots_(2 * static_cast<size_t>(threads)) {}
  ~CompressionPipeline() { stop(); }
  CompressionPipeline(const CompressionPipeline&) = delete;
  CompressionPipeline& operator=(const CompressionPipeline&) = delete;

  void start(std::vector<ChunkCompressor> compressors) {
    compressors_ = std::move(compressors);
    for (ChunkCompressor& compressor : compressors_) {
      workers_.emplace_back([this, &compressor] { work(compressor); });
    }
  }

  size_t capacity() const { return slots_.size(); }

  // Queues job number `index` (the next one); its slot is free: the caller released the job
  // capacity() before it.
  void submit(size_t index, const DeflateJob& job) {
    std::lock_guard lock(mutex_);
    slots_[index % slots_.size()].job = job;
    submitted_ = index + 1;
    changed_.notify_all();
  }

  // Waits for the result of job `index` (taken in order, each once); valid until release().
  Slot& take(size_t index) {
    std::unique_lock lock(mutex_);
    Slot& slot = slots_[index % slots_.size()];
    changed_.wait(lock, [&] { return slot.ready; });
    return slot;
  }
  void release(size_t index) {
    std::lock_guard lock(mutex_);
    slots_[index % slots_.size()].ready = false;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
  }

 private:
  void work(ChunkCompressor& compressor) {
    for (;;) {
      size_t index;
      DeflateJob job;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || next_ < submitted_; });
        if (stopping_) return;
        index = next_++;
        job = slots_[index % slots_.size()].job;
      }
      // The slot is ours until it is marked ready: the writer neither reuses nor reads it.
      Slot& slot = slots_[index % slots_.size()];
      auto crc = compressor.compress(job, slot.data);
      std::lock_guard lock(mutex_);
      slot.status = crc.status();
      slot.crc = crc.ok() ? *crc : 0;
      slot.ready = true;
      changed_.notify_all();
    }
  }

  std::vector<Slot> slots_;
  std::vector<ChunkCompressor> compressors_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable changed_;
  size_t next_ = 0;       // the next job a worker takes
  size_t submitted_ = 0;  // jobs queued by the writer
  bool stopping_ = false;
};

// Writes the stream in guest order: header, then holes and job results, then the trailer.
class GzipWriter {
 public:
  GzipWriter(int fd, const ZeroPieces& zeros, ProgressSink* progress, uint64_t total)
      : fd_(fd), zeros_(zeros), progress_(progress), total_(total) {}

  void header(int level) {
    // No name, no mtime (0), XFL says "fastest" for level 1 and "best" for 9 as gzip does, OS 3.
    uint8_t xfl = level == 1 ? 4 : level == 9 ? 2 : 0;
    pending_.insert(pending_.end(), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3});
  }

  Status zeros(uint64_t count) {
    // Holes are written in slices so that progress and cancellation stay responsive.
    constexpr uint64_t kSlice = 1 * kGiB;
    while (count > 0) {
      uint64_t n = std::min(count, kSlice);
      zeros_.append(n, pending_);
      crc_ = crc32ExtendZeros(crc_, n);
      VS_RETURN_IF_ERROR(advance(n));
      count -= n;
      if (pending_.size() >= kFlushAt) VS_RETURN_IF_ERROR(flush());
    }
    return {};
  }

  Status data(const std::vector<uint8_t>& pieces, uint32_t crc, uint64_t length) {
    if (pieces.size() < kFlushAt) {
      // Small extents are batched: one write per extent would dominate for a fragmented image.
      pending_.insert(pending_.end(), pieces.begin(), pieces.end());
      if (pending_.size() >= kFlushAt) VS_RETURN_IF_ERROR(flush());
    } else {
      VS_RETURN_IF_ERROR(flush());
      VS_RETURN_IF_ERROR(writeSequential(fd_, pieces.data(), pieces.size()));
    }
    crc_ = static_cast<uint32_t>(crc32_combine(crc_, crc, static_cast<z_off_t>(length)));
    return advance(length);
  }

  Status finish() {
    // An empty fixed-Huffman block marked final ends the deflate stream.
    pending_.insert(pending_.end(), {0x03, 0x00});
    putLe32(pending_, crc_);
    putLe32(pending_, static_cast<uint32_t>(done_));
    return flush();
  }

 private:
  Status advance(uint64_t n) {
    done_ += n;
    if (progress_ != nullptr) {
      if (progress_->cancelled()) return cancelledStatus();
      progress_->report(done_, total_);
    }
    return {};
  }
  Status flush() {
    VS_RETURN_IF_ERROR(writeSequential(fd_, pending_.data(), pending_.size()));
    pending_.clear();
    return {};
  }

  int fd_;
  const ZeroPieces& zeros_;
  ProgressSink* progress_;
  uint64_t total_;
  std::vector<uint8_t> pending_;
  uint32_t crc_ = 0;
  uint64_t done_ = 0;
};

}  // namespace

Status exportGzip(const DiskView& disk, int outFd, const ExportOptions& options) {
  if (options.level < 1 || options.level > 9) {
    return invalidArgument("gzip level " + std::to_string(options.level) +
                           " is out of range; use 1 (fastest) to 9 (smallest)");
  }
  unsigned threads = options.threads;
  if (threads == 0) threads = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  threads = std::min(threads, kMaxThreads);

  const ZeroPieces zeros;
  // No more threads than chunks in the disk: a small disk needs no pool.
  uint64_t chunks = disk.virtualSize() / kChunk + 1;
  threads = static_cast<unsigned>(std::min<uint64_t>(threads, chunks));
  std::vector<ChunkCompressor> compressors;
  for (unsigned i = 0; i < threads; ++i) {
    VS_ASSIGN_OR_RETURN(ChunkCompressor compressor,
                        ChunkCompressor::create(disk, zeros, options.level));
    compressors.push_back(std::move(compressor));
  }

  CompressionPipeline pipeline(threads);
  pipeline.start(std::move(compressors));
  GzipWriter writer(outFd, zeros, options.progress, disk.virtualSize());
  writer.header(options.level);
  JobSource source(disk);
  size_t submitted = 0;
  bool more = true;
  uint64_t at = 0;
  for (size_t taken = 0;; ++taken) {
    while (more && submitted < taken + pipeline.capacity()) {
      VS_ASSIGN_OR_RETURN(std::optional<DeflateJob> job, source.next());
      more = job.has_value();
      if (more) pipeline.submit(submitted++, *job);
    }
    if (taken == submitted) break;
    CompressionPipeline::Slot& slot = pipeline.take(taken);
    const DeflateJob job = slot.job;
    VS_RETURN_IF_ERROR(writer.zeros(job.offset - at));
    if (!slot.status.ok()) {
      return slot.status.withContext("export of guest bytes at offset " +
                                     std::to_string(job.offset));
    }
    VS_RETURN_IF_ERROR(writer.data(slot.data, slot.crc, job.length));
    pipeline.release(taken);
    at = job.offset + job.length;
  }
  VS_RETURN_IF_ERROR(writer.zeros(disk.virtualSize() - at));
  return writer.finish();
}

}  // namespace virtscratch::image
