// Structural validation of the top level, `nodes:` and `links:` into a Manifest.
//
// Only what the manifest itself can tell: keys, kinds, ranges, id syntax and uniqueness, the
// gst/pipeline pairing, link endpoints that name no node, self-loops. Node types, properties,
// pads, caps and cycles are checked by the graph layer against GStreamer (stage 2).
#include <cctype>
#include <unordered_map>
#include <unordered_set>

#include "meshflow/manifest/internal.h"
#include "meshflow/manifest/suggest.h"

namespace mf::manifest::detail {
namespace {

const std::vector<std::string> kTopKeys = {"version", "name", "description",
                                           "session", "nodes", "links"};
const std::vector<std::string> kNodeKeys = {"id", "type", "properties", "pipeline"};
const std::vector<std::string> kLinkKeys = {"from", "to", "caps", "route"};
const std::vector<std::string> kRoutes = {"broadcast", "origin", "others", "peer:<id>"};

// A node type is one name (a friendly node name or an element factory name), never a launch
// line: `videotestsrc ! x264enc` belongs in `type: gst` + `pipeline:`.
bool valid_type(const std::string &s) {
  if (s.empty() || s.size() > 128 || s[0] == '-') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+'))
      return false;
  return true;
}

bool valid_pad(const std::string &s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '%' || c == '-'))
      return false;
  return true;
}

// true if some unknown key of `map` looks like a typo of `key`: the unknown-key error already
// says "did you mean 'key'?", so "missing 'key'" would only repeat it.
bool misspelled(const Value &map, const std::string &key, const std::vector<std::string> &allowed) {
  for (const auto &kv : map.entries) {
    bool known = false;
    for (const auto &a : allowed) known = known || kv.first.scalar == a;
    if (!known && suggest(kv.first.scalar, allowed) == key) return true;
  }
  return false;
}

struct NodeIds {
  std::vector<std::string> valid;             // ids of nodes that parsed, for did-you-mean
  std::unordered_map<std::string, int> line;  // id -> line of its first definition
  std::unordered_set<std::string> attempted;  // every id written, even invalid ones
  bool known = true;  // false when `nodes:` itself is missing or broken: links are not checked
};

void check_node(const Value &v, Checker &c, NodeIds &ids, Manifest &m) {
  c.node.clear();
  if (!c.mapping(v, "nodes[]")) return;
  Node n;
  n.loc = v.loc;
  bool ok = true;

  // The id first, so every later error names the node.
  if (const Value *x = v.find("id")) {
    n.id_loc = x->loc;
    if (auto s = c.string(*x, "id")) {
      ids.attempted.insert(*s);
      if (!valid_id(*s)) {
        c.error("bad-id", x->loc, "bad node id '" + s->substr(0, 80) + "'",
                "an id is a letter or _ followed by letters, digits, _ or -, at most 64 chars");
        ok = false;
      } else {
        auto ins = ids.line.emplace(*s, x->loc.line);
        if (!ins.second) {
          c.error("duplicate-id", x->loc,
                  "duplicate node id '" + *s + "', first defined on line " +
                      std::to_string(ins.first->second),
                  "node ids must be unique");
          ok = false;
        } else {
          ids.valid.push_back(*s);
        }
        n.id = *s;
        c.node = *s;
      }
    } else {
      ok = false;
    }
  } else {
    if (!misspelled(v, "id", kNodeKeys))
      c.error("missing-key", v.loc, "node without an 'id'", "add id: <name>");
    ok = false;
  }

  c.unknown_keys(v, kNodeKeys);

  if (const Value *x = v.find("type")) {
    n.type_loc = x->loc;
    if (auto s = c.string(*x, "type")) {
      if (s->empty()) {
        c.error("bad-value", x->loc, "'type' is empty", "a node type or element factory name");
      } else if (!valid_type(*s)) {
        c.error("bad-value", x->loc, "'type' must be one node type name, got '" +
                                         s->substr(0, 80) + "'",
                "for a gst-launch fragment write type: gst and pipeline: \"...\"");
      } else {
        n.type = *s;
      }
    }
  } else if (!misspelled(v, "type", kNodeKeys)) {
    c.error("missing-key", v.loc, "missing 'type'", "add type: <node type>");
  }

  const Value *pipe = v.find("pipeline");
  if (pipe) {
    n.pipeline_loc = pipe->loc;
    if (auto s = c.string(*pipe, "pipeline")) {
      if (s->empty() && n.type == "gst")
        c.error("bad-value", pipe->loc, "'pipeline' is empty",
                "a gst-launch fragment such as \"videoconvert ! videoflip method=clockwise\"");
      n.pipeline = *s;
    }
  }
  if (n.type == "gst" && !pipe)
    c.error("missing-key", n.type_loc, "type 'gst' needs a 'pipeline'",
            "add pipeline: \"videoconvert ! videoflip method=clockwise\"");
  if (pipe && !n.type.empty() && n.type != "gst")
    c.error("bad-key", pipe->loc, "'pipeline' is only valid with type: gst",
            "remove it, or set type: gst");

  if (const Value *x = v.find("properties")) {
    if (x->kind != Value::Kind::Null && c.mapping(*x, "properties")) {
      for (const auto &kv : x->entries)
        n.properties.push_back(Property{kv.first.scalar, kv.second, kv.first.loc});
    }
  }
  c.node.clear();
  if (ok) m.nodes.push_back(std::move(n));
}

// `node` or `node.pad`.
bool parse_endpoint(const Value &v, const std::string &key, Checker &c, Endpoint &e) {
  auto s = c.string(v, key);
  if (!s) return false;
  e.loc = v.loc;
  const std::size_t dot = s->find('.');
  e.node = s->substr(0, dot);
  e.pad = dot == std::string::npos ? std::string() : s->substr(dot + 1);
  if (!valid_id(e.node) || (dot != std::string::npos && !valid_pad(e.pad))) {
    c.error("bad-endpoint", v.loc, "bad link endpoint '" + s->substr(0, 80) + "'",
            "write node or node.pad; a pad name has letters, digits, _, % or -");
    return false;
  }
  return true;
}

void check_endpoint_exists(const Endpoint &e, const char *key, Checker &c, const NodeIds &ids) {
  if (!ids.known || ids.line.count(e.node) || c.full()) return;
  if (ids.attempted.count(e.node)) return;  // that node already has its own error
  c.error("dangling-link", e.loc, std::string("link '") + key + "' names unknown node '" + e.node + "'",
          did_you_mean(e.node, ids.valid));
}

void check_link(const Value &v, Checker &c, const NodeIds &ids, Manifest &m) {
  if (!c.mapping(v, "links[]")) return;
  c.unknown_keys(v, kLinkKeys, " in link");
  Link l;
  l.loc = v.loc;
  bool ok = true;
  bool have_from = false, have_to = false;
  // A missing or broken endpoint drops the link (ok = false), reporting it once.
  if (const Value *x = v.find("from")) {
    have_from = parse_endpoint(*x, "from", c, l.from);
  } else if (!misspelled(v, "from", kLinkKeys)) {
    c.error("missing-key", v.loc, "link without 'from'", "add from: node[.pad]");
  }
  if (const Value *x = v.find("to")) {
    have_to = parse_endpoint(*x, "to", c, l.to);
  } else if (!misspelled(v, "to", kLinkKeys)) {
    c.error("missing-key", v.loc, "link without 'to'", "add to: node[.pad]");
  }
  ok = have_from && have_to;
  if (have_from) check_endpoint_exists(l.from, "from", c, ids);
  if (have_to) check_endpoint_exists(l.to, "to", c, ids);
  if (have_from && have_to && l.from.node == l.to.node) {
    c.error("self-loop", l.to.loc, "link from node '" + l.from.node + "' to itself",
            "a link must connect two different nodes");
    ok = false;
  }
  if (const Value *x = v.find("caps")) {
    l.caps_loc = x->loc;
    if (auto s = c.string(*x, "caps")) l.caps = *s;
  }
  if (const Value *x = v.find("route")) {
    l.route_loc = x->loc;
    if (auto s = c.string(*x, "route")) {
      const bool peer = s->rfind("peer:", 0) == 0;
      if (*s == "broadcast" || *s == "origin" || *s == "others" || (peer && s->size() > 5)) {
        l.route = *s;
      } else {
        c.error("bad-route", x->loc, "bad route '" + s->substr(0, 80) + "'",
                peer ? "peer:<id> needs a peer id, e.g. peer:alice" : did_you_mean(*s, kRoutes));
        ok = false;
      }
    }
  }
  if (ok) m.links.push_back(std::move(l));
}

}  // namespace

void check_structure(const Value &root, Checker &c, Manifest &m) {
  if (!root.is_map()) {
    c.error("not-a-mapping", root.loc,
            std::string("the manifest must be a mapping of keys, got ") + root.kind_name(),
            "start with 'version: 1' and a 'nodes:' list");
    return;
  }
  // The version first: another version's keys would only produce nonsense errors.
  if (const Value *x = root.find("version")) {
    if (auto n = c.integer(*x, "version", 0, 1000000)) {
      if (*n != 1) {
        c.error("bad-version", x->loc, "unsupported manifest version " + std::to_string(*n),
                "this Meshflow reads version: 1");
        return;
      }
      m.version = 1;
    } else {
      return;
    }
  } else if (!misspelled(root, "version", kTopKeys)) {
    c.error("missing-key", root.loc, "missing 'version'", "add 'version: 1' at the top");
  }
  c.unknown_keys(root, kTopKeys);
  if (const Value *x = root.find("name"))
    if (auto s = c.string(*x, "name")) m.name = *s;
  if (const Value *x = root.find("description"))
    if (auto s = c.string(*x, "description")) m.description = *s;
  if (const Value *x = root.find("session")) check_session(*x, c, m.session);

  NodeIds ids;
  const Value *nodes = root.find("nodes");
  ids.known = nodes && nodes->is_sequence() && !nodes->items.empty();
  if (!nodes) {
    if (!misspelled(root, "nodes", kTopKeys))
      c.error("missing-key", root.loc, "missing 'nodes'",
              "add a 'nodes:' list with at least one node");
  } else if (!nodes->is_sequence() || nodes->items.empty()) {
    c.error(nodes->is_sequence() ? "bad-value" : "bad-type", nodes->loc,
            "'nodes': expected a non-empty list, got " +
                (nodes->is_sequence() ? std::string("an empty list") : got(*nodes)),
            "- {id: src, type: videotestsrc}");
  } else {
    for (const auto &item : nodes->items) check_node(item, c, ids, m);
  }
  // Links are only checked against nodes when there is a node list to check against.
  if (const Value *x = root.find("links")) {
    if (x->kind != Value::Kind::Null && c.list(*x, "links"))
      for (const auto &item : x->items) check_link(item, c, ids, m);
  }
}

}  // namespace mf::manifest::detail
