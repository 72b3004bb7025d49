// "Did you mean ...?" for unknown names: the closest candidate by edit distance, if close enough.
#pragma once

#include <string>
#include <vector>

namespace mf {
/// Closest candidate to `word` (case-insensitive Damerau-Levenshtein), or "" if none is close.
std::string suggest(const std::string &word, const std::vector<std::string> &candidates);
/// "did you mean 'x'?" or "" ; `candidates` listed when short: "valid: a, b, c".
std::string did_you_mean(const std::string &word, const std::vector<std::string> &candidates);
}  // namespace mf
