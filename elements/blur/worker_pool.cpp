#include "worker_pool.h"

namespace mf::blur {

WorkerPool::WorkerPool(unsigned n_participants) {
  const unsigned n_workers = n_participants > 1 ? n_participants - 1 : 0;
  threads_.reserve(n_workers);
  try {
    for (unsigned i = 0; i < n_workers; ++i)
      threads_.emplace_back(&WorkerPool::worker_main, this, i + 1);
  } catch (...) {
    shutdown();
    throw;
  }
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::shutdown() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  work_cv_.notify_all();
  for (auto &t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::drain(unsigned participant) {
  const Task &task = *batch_;
  for (size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n_tasks_;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    try {
      task(i, participant);
    } catch (...) {
      failed_.store(true, std::memory_order_relaxed);
    }
  }
}

bool WorkerPool::run(size_t n_tasks, const Task &task) {
  if (n_tasks == 0) return true;
  failed_.store(false, std::memory_order_relaxed);
  if (threads_.empty() || n_tasks == 1) {
    batch_ = &task;
    n_tasks_ = n_tasks;
    next_.store(0, std::memory_order_relaxed);
    drain(0);
    batch_ = nullptr;
    return !failed_.load(std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch_ = &task;
    n_tasks_ = n_tasks;
    next_.store(0, std::memory_order_relaxed);
    busy_workers_ = unsigned(threads_.size());
    ++generation_;
  }
  work_cv_.notify_all();
  drain(0);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return busy_workers_ == 0; });
    batch_ = nullptr;
  }
  return !failed_.load(std::memory_order_relaxed);
}

void WorkerPool::worker_main(unsigned participant) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
    }
    // batch_ and n_tasks_ were published under mutex_ before generation_ changed and stay fixed
    // until busy_workers_ reaches 0, so reading them here without the lock is safe.
    drain(participant);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_workers_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace mf::blur
