// A small persistent pool of worker threads that runs one batch of indexed tasks at a time.
//
// The pool has `size()` participants: the thread that calls run() and size() - 1 workers created
// in the constructor and joined in the destructor (no thread is created per batch). A pool of
// size 1 runs every task inline on the caller. Tasks are handed out dynamically (an atomic
// counter), so which participant runs which task varies; callers must make results independent of
// that (the blur writes disjoint rows with per-participant scratch memory).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mf::blur {

class WorkerPool {
 public:
  /// task(index, participant): index in [0, n_tasks), participant in [0, size()).
  using Task = std::function<void(size_t index, unsigned participant)>;

  /// Starts n_participants - 1 threads (n_participants >= 1). Throws std::system_error if a
  /// thread cannot be created (the ones already started are joined first).
  explicit WorkerPool(unsigned n_participants);
  /// Joins every worker. Never throws.
  ~WorkerPool();

  WorkerPool(const WorkerPool &) = delete;
  WorkerPool &operator=(const WorkerPool &) = delete;

  unsigned size() const { return unsigned(threads_.size()) + 1; }

  /// Runs task(i, p) for every i in [0, n_tasks) and returns when all have finished. One batch at
  /// a time: run() must not be called concurrently or from inside a task. Returns false if any
  /// task threw (the exception is swallowed; the remaining tasks still run).
  bool run(size_t n_tasks, const Task &task);

 private:
  void worker_main(unsigned participant);
  void drain(unsigned participant);
  void shutdown() noexcept;

  // Guards batch_, generation_, busy_workers_ and quit_.
  std::mutex mutex_;
  // Signalled (with mutex_ held) when a new batch is published (generation_ bumped) or quit_ set.
  std::condition_variable work_cv_;
  // Signalled when busy_workers_ drops to 0: every worker has left the current batch.
  std::condition_variable done_cv_;

  const Task *batch_ = nullptr;
  size_t n_tasks_ = 0;
  uint64_t generation_ = 0;
  unsigned busy_workers_ = 0;
  bool quit_ = false;

  // Lock-free within a batch: the next task index to hand out, and whether any task threw.
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};

  std::vector<std::thread> threads_;
};

}  // namespace mf::blur
