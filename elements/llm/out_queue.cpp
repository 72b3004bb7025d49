// Bounded assistant-audio queue with per-item accounting (see out_queue.h).
#include "out_queue.h"

#include <algorithm>
#include <cstring>

namespace mf::llm {

size_t OutQueue::push(const std::string &item, const int16_t *s, size_t n) {
  size_t room = max_ > queued_ ? max_ - queued_ : 0;
  size_t take = std::min(room, n);
  if (take) {
    if (!chunks_.empty() && chunks_.back().item == item) {
      chunks_.back().s.insert(chunks_.back().s.end(), s, s + take);
    } else {
      Chunk c;
      c.item = item;
      c.s.assign(s, s + take);
      chunks_.push_back(std::move(c));
    }
    queued_ += take;
  }
  return n - take;
}

OutQueue::Pulled OutQueue::pull(int16_t *out, size_t n, size_t lead) {
  Pulled r;
  lead = std::min(lead, n);
  std::memset(out, 0, lead * sizeof(int16_t));
  size_t w = lead;
  while (w < n && !chunks_.empty()) {
    Chunk &c = chunks_.front();
    if (c.item != cur_item_) {
      cur_item_ = c.item;
      cur_pulled_ = 0;
      r.item_started = true;
    }
    size_t take = std::min(n - w, c.s.size() - c.pos);
    if (r.audio == 0) r.first_offset = w;
    std::memcpy(out + w, c.s.data() + c.pos, take * sizeof(int16_t));
    c.pos += take;
    w += take;
    r.audio += take;
    cur_pulled_ += int64_t(take);
    queued_ -= take;
    r.item = c.item;
    if (c.pos == c.s.size()) chunks_.pop_front();
  }
  std::memset(out + w, 0, (n - w) * sizeof(int16_t));
  return r;
}

size_t OutQueue::clear() {
  size_t n = queued_;
  chunks_.clear();
  queued_ = 0;
  return n;
}

int64_t played_samples_at(int64_t pulled_total, uint64_t buf_pts, size_t buf_item_offset,
                          size_t buf_item_samples, uint64_t now, int rate) {
  int64_t before = pulled_total - int64_t(buf_item_samples);
  if (now <= buf_pts) return std::max<int64_t>(before, 0);
  // Samples whose time has come in the last buffer (rounded down), minus its leading silence.
  int64_t elapsed = int64_t((now - buf_pts) * uint64_t(rate) / 1000000000ull);
  int64_t in_buf = std::clamp<int64_t>(elapsed - int64_t(buf_item_offset), 0,
                                       int64_t(buf_item_samples));
  return std::max<int64_t>(before + in_buf, 0);
}

}  // namespace mf::llm
