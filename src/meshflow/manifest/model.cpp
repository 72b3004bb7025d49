// Manifest v1 model helpers (lookups and descriptions used in messages).
#include "meshflow/manifest/model.h"

namespace mf::manifest {

const Value *Value::find(const std::string &key) const {
  if (kind != Kind::Map) return nullptr;
  for (const auto &kv : entries)
    if (kv.first.scalar == key) return &kv.second;
  return nullptr;
}

const char *Value::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Scalar: return "a string";
    case Kind::Sequence: return "a list";
    case Kind::Map: return "a mapping";
  }
  return "a value";
}

const Node *Manifest::find_node(const std::string &id) const {
  for (const auto &n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

Node *Manifest::find_node(const std::string &id) {
  for (auto &n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

}  // namespace mf::manifest
