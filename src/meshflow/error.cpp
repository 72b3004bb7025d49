#include "meshflow/error.h"

namespace mf {

std::string Location::str() const {
  std::string s = file.empty() ? std::string("<manifest>") : file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  return s;
}

std::string Error::format() const {
  std::string s = loc.str() + ": error: ";
  if (!node.empty()) s += "node '" + node + "': ";
  s += message;
  if (!hint.empty()) s += " (" + hint + ")";
  return s;
}

std::string Diagnostics::format() const {
  std::string s;
  for (const auto &e : errors) s += e.format() + "\n";
  return s;
}

}  // namespace mf
