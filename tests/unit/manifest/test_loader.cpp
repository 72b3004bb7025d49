// Positive loader tests: the DESIGN.md manifest round-trips every field with its location; a
// manifest using every session key; ${ENV}; --set overrides; limits that need generated input.
#include <glib.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "meshflow/manifest/loader.h"
#include "test_helpers.h"

using namespace mf::manifest;
using mftest::options;

namespace {

std::string loc(const mf::Location &l) { return std::to_string(l.line) + ":" + std::to_string(l.column); }

Manifest load_ok(const std::string &text, LoadOptions o = options()) {
  Manifest m;
  mf::Diagnostics d = load_string(text, "t.yaml", o, m);
  EXPECT_TRUE(d.ok()) << d.format();
  return m;
}

mf::Diagnostics load_bad(const std::string &text, LoadOptions o = options()) {
  Manifest m;
  mf::Diagnostics d = load_string(text, "t.yaml", o, m);
  EXPECT_FALSE(d.ok());
  return d;
}

const char *kSmall = "version: 1\nnodes:\n  - id: blur\n    type: blur\n    properties: {sigma: 6}\n"
                     "  - id: out\n    type: fakesink\nlinks:\n  - {from: blur, to: out}\n";

}  // namespace

TEST(ManifestLoader, DesignManifestRoundTrips) {
  Manifest m;
  const std::string path = mftest::dir("good/blur_back.yaml");
  mf::Diagnostics d = load_file(path, options(), m);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_EQ(m.file, path);
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.name, "blur-back");
  EXPECT_EQ(m.description, "Every peer sees itself blurred; everyone hears everyone else.");
  EXPECT_EQ(m.session.room, "demo");
  EXPECT_EQ(m.session.max_peers, 10);
  EXPECT_EQ(m.session.signalling, "embedded");
  EXPECT_TRUE(m.session.ice_servers.empty());
  EXPECT_TRUE(m.session.ice_local_addresses.empty());
  EXPECT_EQ(m.session.transport, "auto");
  EXPECT_EQ(m.session.webrtc_rollout_percent, 100);
  EXPECT_EQ(loc(m.session.loc), "5:3");

  ASSERT_EQ(m.nodes.size(), 4u);
  const Node &in = m.nodes[0];
  EXPECT_EQ(in.id, "peers_in");
  EXPECT_EQ(in.type, "webrtc_source");
  EXPECT_EQ(loc(in.loc), "12:5");
  EXPECT_EQ(loc(in.id_loc), "12:9");
  EXPECT_EQ(loc(in.type_loc), "13:11");
  EXPECT_EQ(in.id_loc.file, path);
  ASSERT_EQ(in.properties.size(), 1u);
  EXPECT_EQ(in.properties[0].name, "media");
  EXPECT_EQ(loc(in.properties[0].loc), "14:19");
  const Value &media = in.properties[0].value;
  ASSERT_TRUE(media.is_sequence());
  ASSERT_EQ(media.items.size(), 2u);
  EXPECT_EQ(media.items[0].scalar, "audio");
  EXPECT_EQ(media.items[1].scalar, "video");
  EXPECT_EQ(loc(media.loc), "14:26");
  EXPECT_EQ(loc(media.items[1].loc), "14:34");

  const Node *blur = m.find_node("blur");
  ASSERT_NE(blur, nullptr);
  EXPECT_EQ(blur->type, "blur");
  EXPECT_TRUE(blur->pipeline.empty());
  ASSERT_EQ(blur->properties.size(), 1u);
  EXPECT_EQ(blur->properties[0].name, "sigma");
  EXPECT_EQ(blur->properties[0].value.scalar, "6");
  EXPECT_FALSE(blur->properties[0].value.quoted);
  EXPECT_EQ(loc(blur->properties[0].value.loc), "17:26");

  const Node *mix = m.find_node("mix");
  ASSERT_NE(mix, nullptr);
  ASSERT_EQ(mix->properties.size(), 2u);
  EXPECT_EQ(mix->properties[1].name, "mode");
  EXPECT_EQ(mix->properties[1].value.scalar, "mix_minus");
  const Node *out = m.find_node("peers_out");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->properties[0].value.scalar, "vp8");
  EXPECT_EQ(out->properties[1].value.scalar, "opus");
  EXPECT_EQ(m.find_node("nope"), nullptr);

  ASSERT_EQ(m.links.size(), 4u);
  EXPECT_EQ(m.links[0].from.node, "peers_in");
  EXPECT_EQ(m.links[0].from.pad, "video");
  EXPECT_EQ(m.links[0].from.str(), "peers_in.video");
  EXPECT_EQ(loc(m.links[0].from.loc), "25:13");
  EXPECT_EQ(m.links[0].to.node, "blur");
  EXPECT_EQ(m.links[0].to.pad, "");
  EXPECT_EQ(loc(m.links[0].to.loc), "25:33");
  EXPECT_EQ(m.links[0].route, "broadcast");
  EXPECT_EQ(loc(m.links[0].loc), "25:5");
  EXPECT_EQ(m.links[1].route, "origin");
  EXPECT_EQ(loc(m.links[1].route_loc), "26:41");
  EXPECT_EQ(m.links[2].from.str(), "peers_in.audio");
  EXPECT_EQ(m.links[3].to.node, "peers_out");
}

TEST(ManifestLoader, EverySessionKeyAndGstNode) {
  Manifest m;
  mf::Diagnostics d = load_file(mftest::dir("good/full_session.yaml"), options(), m);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_EQ(m.session.room, "lobby");
  EXPECT_EQ(m.session.max_peers, 64);
  EXPECT_EQ(m.session.signalling, "wss://signal.example.com:8443/rpc");
  ASSERT_EQ(m.session.ice_servers.size(), 2u);
  EXPECT_EQ(m.session.ice_servers[0].urls, std::vector<std::string>{"stun:stun.example.com:3478"});
  ASSERT_EQ(m.session.ice_servers[1].urls.size(), 2u);
  EXPECT_EQ(m.session.ice_servers[1].urls[1], "turns:turn.example.com:5349");
  EXPECT_EQ(m.session.ice_servers[1].username, "alice");
  EXPECT_EQ(m.session.ice_servers[1].credential, "s3cret");
  EXPECT_EQ(loc(m.session.ice_servers[1].loc), "9:7");
  EXPECT_EQ(m.session.ice_local_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(m.session.transport, "websocket");
  EXPECT_EQ(m.session.webrtc_rollout_percent, 0);
  const Node *flip = m.find_node("flip");
  ASSERT_NE(flip, nullptr);
  EXPECT_EQ(flip->type, "gst");
  EXPECT_EQ(flip->pipeline, "videoconvert ! videoflip method=clockwise");
  EXPECT_EQ(loc(flip->pipeline_loc), "23:15");
  const Node *src = m.find_node("src");
  ASSERT_EQ(src->properties.size(), 2u);
  EXPECT_EQ(src->properties[1].name, "is-live");
  ASSERT_EQ(m.links.size(), 2u);
  EXPECT_EQ(m.links[0].caps, "video/x-raw,width=320,height=240");
  EXPECT_EQ(loc(m.links[0].caps_loc), "29:11");
  EXPECT_EQ(m.links[1].route, "peer:bob");
  EXPECT_EQ(m.links[1].from.pad, "src");
  EXPECT_EQ(m.links[1].to.pad, "sink");
}

TEST(ManifestLoader, ScalarsKeepQuotingAndNull) {
  Value v;
  mf::Diagnostics d = parse_yaml("a: 8\nb: \"8\"\nc: '8'\nd: ~\ne: null\nf:\ng: !!str 9\n", "t.yaml",
                                 options(), v);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_FALSE(v.find("a")->quoted);
  EXPECT_TRUE(v.find("b")->quoted);
  EXPECT_TRUE(v.find("c")->quoted);
  EXPECT_EQ(v.find("d")->kind, Value::Kind::Null);
  EXPECT_EQ(v.find("e")->kind, Value::Kind::Null);
  EXPECT_EQ(v.find("f")->kind, Value::Kind::Null);
  EXPECT_EQ(loc(v.find("f")->loc), "6:1");  // an empty value points at its key
  EXPECT_TRUE(v.find("g")->quoted);
  EXPECT_STREQ(v.find("d")->kind_name(), "null");
  EXPECT_STREQ(v.find("a")->kind_name(), "a string");
}

TEST(ManifestLoader, AliasesAreExpanded) {
  Value v;
  mf::Diagnostics d = parse_yaml("base: &b {sigma: 6, mode: [a, b]}\ncopy: *b\n", "t.yaml",
                                 options(), v);
  ASSERT_TRUE(d.ok()) << d.format();
  const Value *c = v.find("copy");
  ASSERT_TRUE(c && c->is_map());
  EXPECT_EQ(c->find("sigma")->scalar, "6");
  EXPECT_EQ(c->find("mode")->items.size(), 2u);
  EXPECT_EQ(loc(c->loc), "2:7");  // the alias site
}

TEST(ManifestLoader, EnvironmentExpansion) {
  auto o = options({{"SIGMA", "8"}, {"EMPTY", ""}, {"ROOM", "lobby"}});
  // Block style: a plain ${X} is fine. In flow style `{...}` it must be quoted, and a value
  // that is exactly one "${X}" still counts as unquoted (so it can be an integer).
  Manifest m = load_ok(
      "version: 1\n"
      "session: {room: \"${ROOM}-$$x-${NOPE:-d}-${EMPTY:-e}\", max_peers: \"${PEERS:-12}\"}\n"
      "nodes:\n"
      "  - id: blur\n"
      "    type: blur\n"
      "    properties:\n"
      "      sigma: ${SIGMA}\n"
      "      price: $5\n"
      "      lit: $${SIGMA}\n"
      "      ${NOT_EXPANDED}: 1\n",
      o);
  EXPECT_EQ(m.session.room, "lobby-$x-d-e");
  EXPECT_EQ(m.session.max_peers, 12);
  const Node *b = m.find_node("blur");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->properties.size(), 4u);
  EXPECT_EQ(b->properties[0].value.scalar, "8");
  EXPECT_FALSE(b->properties[0].value.quoted);
  EXPECT_EQ(b->properties[1].value.scalar, "$5");
  EXPECT_EQ(b->properties[2].value.scalar, "${SIGMA}");
  EXPECT_EQ(b->properties[3].name, "${NOT_EXPANDED}");  // keys are never expanded
}

TEST(ManifestLoader, EnvironmentErrorsAreAllReported) {
  mf::Diagnostics d = load_bad("version: 1\nname: ${A}\ndescription: ${B:-x} ${C\nnodes: [{id: a, type: b}]\n");
  ASSERT_EQ(d.errors.size(), 2u) << d.format();
  EXPECT_EQ(d.errors[0].code, "env-undefined");
  EXPECT_EQ(loc(d.errors[0].loc), "2:7");
  EXPECT_NE(d.errors[0].message.find("'A' is not set"), std::string::npos);
  EXPECT_NE(d.errors[0].hint.find("${A:-"), std::string::npos);
  EXPECT_EQ(d.errors[1].code, "env-syntax");
  EXPECT_EQ(loc(d.errors[1].loc), "3:14");
}

TEST(ManifestLoader, DefaultGetenvIsTheProcessEnvironment) {
  g_setenv("MESHFLOW_TEST_ROOM_VAR", "from-env", TRUE);
  Manifest m;
  mf::Diagnostics d = load_string("version: 1\nsession: {room: \"${MESHFLOW_TEST_ROOM_VAR}\"}\nnodes: [{id: a, type: b}]\n",
                                  "t.yaml", LoadOptions{}, m);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_EQ(m.session.room, "from-env");
  g_unsetenv("MESHFLOW_TEST_ROOM_VAR");
}

TEST(ManifestLoader, OverridesReplaceAndAdd) {
  auto o = options();
  o.overrides = {"blur.sigma=8", "blur.name=\"x y\"", "out.sync=false", "blur.list=[1, 2]",
                 "blur.text=a: b", "blur.none=~"};
  Manifest m = load_ok(kSmall, o);
  const Node *b = m.find_node("blur");
  ASSERT_EQ(b->properties.size(), 5u);
  EXPECT_EQ(b->properties[0].name, "sigma");  // replaced in place
  EXPECT_EQ(b->properties[0].value.scalar, "8");
  EXPECT_FALSE(b->properties[0].value.quoted);
  EXPECT_EQ(b->properties[0].loc.file, "<command line>");
  EXPECT_EQ(b->properties[0].value.loc.file, "<command line>");
  EXPECT_EQ(b->properties[1].name, "name");
  EXPECT_EQ(b->properties[1].value.scalar, "x y");
  EXPECT_TRUE(b->properties[1].value.quoted);
  EXPECT_TRUE(b->properties[2].value.is_sequence());
  EXPECT_EQ(b->properties[3].value.scalar, "a: b");
  EXPECT_EQ(b->properties[4].value.kind, Value::Kind::Null);
  const Node *out = m.find_node("out");
  ASSERT_EQ(out->properties.size(), 1u);
  EXPECT_EQ(out->properties[0].value.scalar, "false");
}

TEST(ManifestLoader, OverrideErrors) {
  auto o = options();
  o.overrides = {"blr.sigma=8", "nodot=1", "blur.sigma", "blur.=3", "blur.sigma=", "blur.s=\"open",
                 "9x.y=1"};
  mf::Diagnostics d = load_bad(kSmall, o);
  ASSERT_EQ(d.errors.size(), 7u) << d.format();
  for (const auto &e : d.errors) {
    EXPECT_EQ(e.loc.file, "<command line>");
    EXPECT_EQ(e.loc.line, 0);
  }
  EXPECT_EQ(d.errors[0].code, "unknown-node");
  EXPECT_EQ(d.errors[0].format(),
            "<command line>: error: override 'blr.sigma=8' names unknown node 'blr' (did you mean "
            "'blur'?)");
  EXPECT_EQ(d.errors[1].code, "bad-override");
  EXPECT_EQ(d.errors[2].code, "bad-override");
  EXPECT_EQ(d.errors[3].code, "bad-override");
  EXPECT_EQ(d.errors[4].code, "bad-override");
  EXPECT_NE(d.errors[4].message.find("no value"), std::string::npos);
  EXPECT_EQ(d.errors[5].code, "bad-override");
  EXPECT_EQ(d.errors[6].code, "bad-override");
}

TEST(ManifestLoader, ErrorFormatLooksLikeACompiler) {
  mf::Diagnostics d = load_bad(
      "version: 1\nnodes:\n  - id: blur\n    type: blur\n    propertes: {sigma: 6}\n");
  ASSERT_EQ(d.errors.size(), 1u) << d.format();
  EXPECT_EQ(d.errors[0].format(),
            "t.yaml:5:5: error: node 'blur': unknown key 'propertes' (did you mean 'properties'?)");
  EXPECT_EQ(d.errors[0].node, "blur");
  EXPECT_EQ(d.errors[0].code, "unknown-key");
}

TEST(ManifestLoader, CollectsIndependentErrors) {
  mf::Diagnostics d = load_bad(
      "version: 1\nsession: {max_peers: 0, transport: carrier-pigeon, romo: x}\n"
      "nodes:\n  - {id: a, type: blur, propertes: {}}\n  - {id: a, type: gst}\n"
      "links:\n  - {from: a, to: b}\n  - {from: a, to: a, route: nowhere}\n");
  // max_peers, transport, romo, propertes, duplicate id, gst w/o pipeline, dangling b, self-loop,
  // bad route.
  EXPECT_EQ(d.errors.size(), 9u) << d.format();
}

TEST(ManifestLoader, NoCascadeFromBrokenNodes) {
  // A node whose id is invalid is not also reported as a dangling link target.
  mf::Diagnostics d = load_bad("version: 1\nnodes:\n  - {id: 9a, type: blur}\n  - {id: b, type: blur}\n"
                               "links:\n  - {from: 9a, to: b}\n");
  ASSERT_GE(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "bad-id") << d.format();
  for (const auto &e : d.errors) EXPECT_NE(e.code, "dangling-link") << d.format();
}

TEST(ManifestLoader, TwoMebibyteFileIsRefusedQuickly) {
  const std::string path = testing::TempDir() + "/big.yaml";
  {
    std::ofstream f(path);
    f << "version: 1\nname: \"";
    f << std::string(2 << 20, 'x');
    f << "\"\n";
  }
  Manifest m;
  auto t0 = std::chrono::steady_clock::now();
  mf::Diagnostics d = load_file(path, options(), m);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "too-big");
  EXPECT_EQ(d.errors[0].loc.file, path);
  EXPECT_NE(d.errors[0].message.find("larger than the limit"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // The same through load_string.
  mf::Diagnostics d2 = load_string(std::string(2 << 20, ' '), "s.yaml", options(), m);
  ASSERT_EQ(d2.errors.size(), 1u);
  EXPECT_EQ(d2.errors[0].code, "too-big");
}

TEST(ManifestLoader, MissingFile) {
  Manifest m;
  mf::Diagnostics d = load_file("/nonexistent/x.yaml", options(), m);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "io");
}

TEST(ManifestLoader, EmptyStringAndWhitespace) {
  for (const char *text : {"", "   \n\n", "# only a comment\n", "---\n", "~\n"}) {
    mf::Diagnostics d = load_bad(text);
    ASSERT_EQ(d.errors.size(), 1u) << text;
    EXPECT_EQ(d.errors[0].code, "empty") << text;
  }
}

TEST(ManifestLoader, ValueBudgetWithoutAliases) {
  std::string text = "version: 1\nname: [";
  for (int i = 0; i < 2000; i++) text += "1,";
  text += "1]\nnodes: [{id: a, type: b}]\n";
  auto o = options();
  o.max_values = 1000;
  mf::Diagnostics d = load_bad(text, o);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "too-many-values");
}

TEST(ManifestLoader, NestedAnchorsAreCharged) {
  // Every nested anchor keeps a copy: 60 nested anchors over a 2000-value list must hit the
  // budget rather than store 120,000 values.
  std::string text = "a: ";
  for (int i = 0; i < 60; i++) text += "&a" + std::to_string(i) + " [";
  text += "[";
  for (int i = 0; i < 2000; i++) text += "1,";
  text += "1]";
  for (int i = 0; i < 60; i++) text += "]";
  Value v;
  mf::Diagnostics d = parse_yaml(text, "t.yaml", options(), v);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "too-many-values");
}

TEST(ManifestLoader, ExpandedTextBudget) {
  std::string text = "a: &a \"" + std::string(100000, 'x') + "\"\nb: [";
  for (int i = 0; i < 200; i++) text += "*a,";
  text += "*a]\n";
  Value v;
  mf::Diagnostics d = parse_yaml(text, "t.yaml", options(), v);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].code, "too-many-values");
  EXPECT_NE(d.errors[0].message.find("alias expansion"), std::string::npos);
}

TEST(ManifestLoader, ManyDanglingLinksStayFastAndCapped) {
  // 3,000 nodes with similar ids and 3,000 links to ids that are all one edit away: without the
  // error cap and bounded did-you-mean this is 9 million string distances (tens of seconds).
  std::string text = "version: 1\nnodes:\n";
  for (int i = 0; i < 3000; i++) text += "- {id: node_" + std::to_string(10000 + i) + ", type: b}\n";
  text += "links:\n";
  for (int i = 0; i < 3000; i++)
    text += "- {from: node_" + std::to_string(10000 + i) + ", to: nodx_" + std::to_string(10000 + i) + "}\n";
  auto t0 = std::chrono::steady_clock::now();
  mf::Diagnostics d = load_bad(text);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  ASSERT_EQ(d.errors.size(), 100u);
  EXPECT_EQ(d.errors[0].hint, "did you mean 'node_10000'?");
  EXPECT_EQ(d.errors.back().code, "too-many-errors");
}
