// "Did you mean ...?" for unknown keys, node ids and enum values.
//
// Distance is the optimal-string-alignment variant of Damerau-Levenshtein (insert, delete,
// substitute, swap two adjacent characters), compared case-insensitively, so 'propertes',
// 'Nodes' and 'nodse' all find their key. A candidate is accepted when its distance is at most
// max(1, len/3) of the typed word: close enough to be a typo, not a different word.
#include "meshflow/manifest/suggest.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <limits>

namespace mf {
namespace {

std::string lower(const std::string &s) {
  std::string out(s);
  for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

char fold(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Optimal string alignment distance between `a` (already lower-case) and `b` (folded here);
// O(|a|*|b|) time in three rows of `rows` (reused across calls: no allocation per candidate).
// Returns early (with a value > cap) once two consecutive rows exceed `cap`: from there the
// distance can only grow (a transposition reads two rows back).
std::size_t osa_distance(const std::string &a, const std::string &b, std::size_t cap,
                         std::vector<std::size_t> &rows) {
  const std::size_t n = a.size(), m = b.size();
  if (n == 0) return m;
  if (m == 0) return n;
  rows.assign(3 * (m + 1), 0);
  std::size_t *prev2 = rows.data(), *prev = prev2 + (m + 1), *cur = prev + (m + 1);
  for (std::size_t j = 0; j <= m; j++) prev[j] = j;
  std::size_t prev_min = 0;
  for (std::size_t i = 1; i <= n; i++) {
    cur[0] = i;
    std::size_t row_min = i;
    for (std::size_t j = 1; j <= m; j++) {
      const char bj = fold(b[j - 1]);
      const std::size_t cost = a[i - 1] == bj ? 0 : 1;
      std::size_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == fold(b[j - 2]) && a[i - 2] == bj)
        v = std::min(v, prev2[j - 2] + 1);
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > cap && prev_min > cap) return cap + 1;
    prev_min = row_min;
    std::size_t *t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[m];
}

}  // namespace

std::string suggest(const std::string &word, const std::vector<std::string> &candidates) {
  // Words far longer than any key are not typos; skip the quadratic work.
  if (word.empty() || word.size() > 256) return {};
  const std::string w = lower(word);
  const std::size_t limit = std::max<std::size_t>(1, w.size() / 3);
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  // Bounded work: at most kMaxCandidates are compared (ids of a huge manifest, say).
  constexpr std::size_t kMaxCandidates = 1000;
  std::size_t seen = 0;
  std::vector<std::size_t> rows;
  for (const auto &c : candidates) {
    if (++seen > kMaxCandidates) break;
    if (c.size() > w.size() + limit || c.size() + limit < w.size()) continue;  // length bound
    const std::size_t d = osa_distance(w, c, limit, rows);
    if (d <= limit && d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(const std::string &word, const std::vector<std::string> &candidates) {
  const std::string s = suggest(word, candidates);
  if (!s.empty()) return "did you mean '" + s + "'?";
  if (candidates.empty() || candidates.size() > 8) return {};
  std::string out = "valid: ";
  for (std::size_t i = 0; i < candidates.size(); i++) {
    if (i) out += ", ";
    out += candidates[i];
  }
  return out;
}

}  // namespace mf
