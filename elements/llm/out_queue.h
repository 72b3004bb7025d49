// The bounded queue of assistant audio between the network thread (or the mock responder) and
// the paced src task, with per-item accounting of the samples actually handed downstream, which
// is what conversation.item.truncate's audio_end_ms is computed from. Pure C++, not thread-safe:
// the element guards it with its state mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace mf::llm {

class OutQueue {
 public:
  explicit OutQueue(size_t max_samples) : max_(max_samples) {}

  /// Appends samples of `item`. Returns how many were dropped because the queue is full.
  size_t push(const std::string &item, const int16_t *s, size_t n);

  /// What one pull() put into the output buffer.
  struct Pulled {
    size_t audio = 0;         // assistant samples (the rest is silence)
    size_t first_offset = 0;  // index in the buffer of the first assistant sample
    bool item_started = false;  // the first sample of a new item is in this buffer
    std::string item;         // item of the last assistant sample in the buffer
  };
  /// Fills out[0, n): `lead` samples of silence, then queued audio, then silence.
  Pulled pull(int16_t *out, size_t n, size_t lead = 0);

  /// Drops everything queued. Returns the number of samples dropped.
  size_t clear();

  size_t queued() const { return queued_; }
  /// Samples of `item` handed out by pull() so far (0 for another item than the current one).
  int64_t pulled_of(const std::string &item) const {
    return item == cur_item_ ? cur_pulled_ : 0;
  }
  const std::string &current_item() const { return cur_item_; }
  /// Item of the next queued sample (empty when nothing is queued).
  std::string front_item() const { return chunks_.empty() ? std::string() : chunks_.front().item; }

 private:
  struct Chunk {
    std::string item;
    std::vector<int16_t> s;
    size_t pos = 0;
  };
  size_t max_;
  size_t queued_ = 0;
  std::deque<Chunk> chunks_;
  std::string cur_item_;
  int64_t cur_pulled_ = 0;
};

/// Samples of the current item that had been played at running time `now`, given the last
/// buffer handed downstream: it started at `buf_pts`, held `buf_item_samples` samples of the item
/// from index `buf_item_offset` on, and `pulled_total` counts the item's samples up to and
/// including that buffer. Samples of a buffer count as played once their time has come.
int64_t played_samples_at(int64_t pulled_total, uint64_t buf_pts, size_t buf_item_offset,
                          size_t buf_item_samples, uint64_t now, int rate);

}  // namespace mf::llm
