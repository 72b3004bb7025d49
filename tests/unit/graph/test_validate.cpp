// Stage 2 (graph::compile): manifests checked against the element classes. Table-driven: each case
// names the exact line:column and a part of the message a user sees.
#include <gtest/gtest.h>

#include "meshflow/graph/plan.h"
#include "meshflow/graph/registry.h"
#include "meshflow/manifest/loader.h"

using namespace mf;

namespace {

Diagnostics compile_text(const std::string &yaml, graph::Plan &plan) {
  manifest::Manifest m;
  Diagnostics d = manifest::load_string(yaml, "test.yaml", {}, m);
  if (!d.ok()) return d;
  graph::Registry reg;
  return graph::compile(m, reg, plan);
}

struct BadCase {
  const char *name;
  const char *yaml;
  int line, column;
  const char *node;
  const char *message;  // substring of Error::format()
};

const char *kHeader = "version: 1\nnodes:\n";

const BadCase kBad[] = {
    {"unknown_type", "  - {id: a, type: blurr}\n", 3, 19, "a", "unknown node type 'blurr' (did you mean 'blur'?"},
    {"unknown_property", "  - {id: a, type: blur, properties: {sigmaa: 3}}\n", 3, 38, "a",
     "'blur' has no property 'sigmaa' (did you mean 'sigma'?"},
    {"out_of_range", "  - {id: a, type: blur, properties: {sigma: 100}}\n", 3, 45, "a",
     "property 'sigma': value 100 is out of range (allowed: 0..64)"},
    {"not_a_number", "  - {id: a, type: blur, properties: {sigma: soft}}\n", 3, 45, "a",
     "property 'sigma': expected a number, got 'soft'"},
    {"bad_enum", "  - {id: a, type: videotestsrc, properties: {pattern: balll}}\n", 3, 55, "a",
     "invalid value 'balll' (one of: smpte, snow, black"},
    {"bad_bool", "  - {id: a, type: videotestsrc, properties: {is-live: maybe}}\n", 3, 55, "a",
     "expected a boolean, got 'maybe' (allowed: true, false)"},
    {"list_for_int", "  - {id: a, type: videotestsrc, properties: {num-buffers: [1, 2]}}\n", 3, 59, "a",
     "expected an integer, got a list"},
    {"negative_uint", "  - {id: a, type: queue, properties: {max-size-buffers: -1}}\n", 3, 57, "a",
     "expected a non-negative integer, got '-1'"},
    {"read_only", "  - {id: a, type: fakesink, properties: {last-sample: x}}\n", 3, 42, "a",
     "property 'last-sample' of 'fakesink' is read-only"},
    {"reserved_name", "  - {id: a, type: fakesink, properties: {name: x}}\n", 3, 42, "a",
     "property 'name' is set by Meshflow"},
    {"bad_fragment", "  - {id: a, type: gst, pipeline: \"videoconvert ! nosuchelement\"}\n", 3, 34, "a",
     "invalid pipeline fragment"},
    {"props_on_fragment", "  - {id: a, type: gst, pipeline: identity, properties: {silent: true}}\n", 3, 57,
     "a", "a 'gst' node takes no properties"},
    {"unknown_pad",
     "  - {id: a, type: videotestsrc}\n  - {id: b, type: fakesink}\nlinks:\n  - {from: a.video, to: b}\n", 6,
     12, "a", "'videotestsrc' has no src pad 'video' (valid: src)"},
    {"sink_has_no_src",
     "  - {id: a, type: fakesink}\n  - {id: b, type: fakesink}\nlinks:\n  - {from: a, to: b}\n", 6, 12, "a",
     "'fakesink' has no src pads"},
    {"incompatible_caps",
     "  - {id: a, type: audiotestsrc}\n  - {id: b, type: blur}\nlinks:\n  - {from: a, to: b}\n", 6, 5, "b",
     "incompatible caps: 'a' produces audio/x-raw but 'b' accepts video/x-raw"},
    {"caps_not_producible",
     "  - {id: a, type: audiotestsrc}\n  - {id: b, type: fakesink}\nlinks:\n"
     "  - {from: a, to: b, caps: video/x-raw}\n",
     6, 28, "a", "'a' cannot produce caps 'video/x-raw' (it produces audio/x-raw)"},
    {"bad_caps",
     "  - {id: a, type: audiotestsrc}\n  - {id: b, type: fakesink}\nlinks:\n"
     "  - {from: a, to: b, caps: \"audio/x-raw,rate=(int)abc\"}\n",
     6, 28, "a", "cannot parse caps"},
    {"cycle",
     "  - {id: a, type: identity}\n  - {id: b, type: identity}\n  - {id: c, type: identity}\nlinks:\n"
     "  - {from: a, to: b}\n  - {from: b, to: c}\n  - {from: c, to: a}\n",
     9, 5, "c", "links form a cycle: a -> b -> c -> a"},
    {"fan_in",
     "  - {id: a, type: audiotestsrc}\n  - {id: b, type: audiotestsrc}\n  - {id: s, type: fakesink}\n"
     "links:\n  - {from: a, to: s}\n  - {from: b, to: s}\n",
     8, 5, "s", "pad 's.sink' already has a link (from 'a' at line 7)"},
};

class BadManifest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadManifest, ReportsExactLocationAndMessage) {
  const BadCase &c = GetParam();
  graph::Plan plan;
  Diagnostics d = compile_text(std::string(kHeader) + c.yaml, plan);
  ASSERT_FALSE(d.ok()) << c.name;
  const Error &e = d.errors.front();
  EXPECT_EQ(e.loc.file, "test.yaml");
  EXPECT_EQ(e.loc.line, c.line) << e.format();
  EXPECT_EQ(e.loc.column, c.column) << e.format();
  EXPECT_EQ(e.node, c.node) << e.format();
  EXPECT_NE(e.format().find(c.message), std::string::npos) << e.format();
}

INSTANTIATE_TEST_SUITE_P(Graph, BadManifest, ::testing::ValuesIn(kBad),
                         [](const auto &info) { return std::string(info.param.name); });

const graph::PlanElement *only(const graph::Plan &p, const std::string &factory) {
  const graph::PlanElement *found = nullptr;
  for (const auto &e : p.elements)
    if (e.factory == factory) {
      EXPECT_EQ(found, nullptr) << "more than one " << factory;
      found = &e;
    }
  return found;
}

TEST(Plan, FanOutGetsTeeAndAQueuePerBranch) {
  graph::Plan p;
  Diagnostics d = compile_text(std::string(kHeader) +
                                   "  - {id: src, type: videotestsrc}\n  - {id: a, type: fakesink}\n"
                                   "  - {id: b, type: fakesink}\nlinks:\n  - {from: src, to: a}\n"
                                   "  - {from: src, to: b}\n",
                               p);
  ASSERT_TRUE(d.ok()) << d.format();
  const auto *tee = only(p, "tee");
  ASSERT_NE(tee, nullptr);
  EXPECT_EQ(tee->name, "src_tee");
  int queues = 0;
  for (const auto &e : p.elements) queues += e.factory == "queue";
  EXPECT_EQ(queues, 2);
}

TEST(Plan, RawMediaGetsConvertersOnlyWhenNeeded) {
  graph::Plan p;
  // audiotestsrc (many formats) -> 16 kHz mono caps -> wavenc: converters before the capsfilter.
  Diagnostics d = compile_text(std::string(kHeader) +
                                   "  - {id: tone, type: audiotestsrc}\n  - {id: wav, type: wavenc}\n"
                                   "  - {id: out, type: fakesink}\nlinks:\n"
                                   "  - {from: tone, to: wav, caps: \"audio/x-raw,rate=16000,channels=1\"}\n"
                                   "  - {from: wav, to: out}\n",
                               p);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_NE(only(p, "audioconvert"), nullptr);
  EXPECT_NE(only(p, "audioresample"), nullptr);
  EXPECT_NE(only(p, "capsfilter"), nullptr);
  // blur -> blur: identical templates, nothing inserted.
  graph::Plan q;
  d = compile_text(std::string(kHeader) +
                       "  - {id: a, type: blur}\n  - {id: b, type: blur}\nlinks:\n  - {from: a, to: b}\n",
                   q);
  ASSERT_TRUE(d.ok()) << d.format();
  EXPECT_EQ(q.elements.size(), 2u);
  ASSERT_EQ(q.links.size(), 1u);
  EXPECT_EQ(q.links[0].src, "a");
  EXPECT_EQ(q.links[0].dst, "b");
}

TEST(Plan, RequestAndSometimesPadsResolve) {
  graph::Plan p;
  Diagnostics d = compile_text(std::string(kHeader) +
                                   "  - {id: a, type: audiotestsrc}\n  - {id: b, type: audiotestsrc}\n"
                                   "  - {id: mix, type: audiomixer}\n  - {id: parse, type: decodebin}\n"
                                   "  - {id: s, type: fakesink}\nlinks:\n"
                                   "  - {from: a, to: mix.sink_%u}\n  - {from: b, to: mix}\n"
                                   "  - {from: parse.src, to: s}\n",
                               p);
  ASSERT_TRUE(d.ok()) << d.format();
  bool sometimes = false;
  for (const auto &l : p.links)
    if (l.src == "parse") sometimes = l.src_sometimes;
  EXPECT_TRUE(sometimes);
}

TEST(Plan, CollectsSeveralIndependentErrors) {
  graph::Plan p;
  Diagnostics d = compile_text(std::string(kHeader) +
                                   "  - {id: a, type: blurr}\n"
                                   "  - {id: b, type: blur, properties: {sigma: -1}}\n",
                               p);
  ASSERT_EQ(d.errors.size(), 2u) << d.format();
  EXPECT_EQ(d.errors[0].node, "a");
  EXPECT_EQ(d.errors[1].node, "b");
}

}  // namespace
