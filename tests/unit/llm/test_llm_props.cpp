// mfllmbridge's property contract (names, types, defaults, ranges, read-only stats with every
// documented field), its pads and caps, and its manifest name.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "process.h"

namespace {
GParamSpec *spec(GstElement *e, const char *name) {
  return g_object_class_find_property(G_OBJECT_GET_CLASS(e), name);
}
}  // namespace

TEST(LlmProps, DefaultsAndRanges) {
  GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
  ASSERT_TRUE(e);
  gint provider = -1;
  g_object_get(e, "provider", &provider, nullptr);
  GEnumValue *v = g_enum_get_value(G_PARAM_SPEC_ENUM(spec(e, "provider"))->enum_class, provider);
  EXPECT_STREQ(v->value_nick, "mock");
  for (const char *nick : {"openai_realtime", "gemini_live", "mock"}) {
    gst_util_set_object_arg(G_OBJECT(e), "provider", nick);
    g_object_get(e, "provider", &provider, nullptr);
    v = g_enum_get_value(G_PARAM_SPEC_ENUM(spec(e, "provider"))->enum_class, provider);
    EXPECT_STREQ(v->value_nick, nick);
  }
  for (const char *s : {"url", "model", "voice", "instructions", "api-key-env", "token-url"}) {
    GParamSpec *p = spec(e, s);
    ASSERT_TRUE(p) << s;
    EXPECT_EQ(G_PARAM_SPEC_VALUE_TYPE(p), G_TYPE_STRING) << s;
    gchar *val = nullptr;
    g_object_get(e, s, &val, nullptr);
    EXPECT_EQ(val, nullptr) << s;
    g_free(val);
  }
  struct U { const char *name; guint def, min, max; };
  for (U u : {U{"watchdog-ms", 5000, 100, 600000}, U{"max-session-s", 0, 0, 86400},
              U{"reconnect-min-ms", 250, 1, 600000}, U{"reconnect-max-ms", 30000, 1, 3600000},
              U{"mock-delay-ms", 300, 0, 60000}, U{"mock-reply-ms", 1500, 10, 60000},
              U{"mock-silence-ms", 400, 10, 10000}}) {
    GParamSpecUInt *p = G_PARAM_SPEC_UINT(spec(e, u.name));
    ASSERT_TRUE(p) << u.name;
    EXPECT_EQ(p->default_value, u.def) << u.name;
    EXPECT_EQ(p->minimum, u.min) << u.name;
    EXPECT_EQ(p->maximum, u.max) << u.name;
  }
  // Out-of-range values are clamped by validation, never accepted as is.
  GValue val = G_VALUE_INIT;
  g_value_init(&val, G_TYPE_UINT);
  g_value_set_uint(&val, 5);
  EXPECT_TRUE(g_param_value_validate(spec(e, "watchdog-ms"), &val));
  EXPECT_EQ(g_value_get_uint(&val), 100u);
  g_object_set(e, "api-key-env", "MY_KEY", "watchdog-ms", 1234u, nullptr);
  gchar *k = nullptr;
  guint wd = 0;
  g_object_get(e, "api-key-env", &k, "watchdog-ms", &wd, nullptr);
  EXPECT_STREQ(k, "MY_KEY");
  EXPECT_EQ(wd, 1234u);
  g_free(k);
  gst_object_unref(e);
}

TEST(LlmProps, StatsIsReadOnlyWithAllFields) {
  GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
  GParamSpec *p = spec(e, "stats");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->flags & G_PARAM_WRITABLE);
  GstStructure *s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  ASSERT_TRUE(s);
  EXPECT_TRUE(gst_structure_has_name(s, "llm-bridge-stats"));
  for (const char *f : {"connected", "reconnects", "errors", "errors_auth", "errors_rate_limit",
                        "errors_server", "errors_network", "errors_watchdog", "errors_protocol",
                        "responses", "cancelled", "first_audio_ms_last", "first_audio_ms_p50",
                        "interruption_ms_last", "truncate_audio_end_ms_last",
                        "session_rollovers", "input_dropped_ms"})
    EXPECT_TRUE(gst_structure_has_field(s, f)) << f;
  double fa = 0;
  gst_structure_get_double(s, "first_audio_ms_last", &fa);
  EXPECT_EQ(fa, -1.0);
  gst_structure_free(s);
  gst_object_unref(e);
}

TEST(LlmProps, PadsCapsAndNodeName) {
  GstElementFactory *f = gst_element_factory_find("mfllmbridge");
  ASSERT_TRUE(f);
  EXPECT_STREQ(gst_element_factory_get_metadata(f, "meshflow-node"), "llm_bridge");
  gst_object_unref(f);
  GstElement *e = gst_element_factory_make("mfllmbridge", nullptr);
  GstPad *src = gst_element_get_static_pad(e, "src");
  GstPad *sink = gst_element_get_static_pad(e, "sink");
  GstPad *text = gst_element_get_static_pad(e, "text");
  ASSERT_TRUE(src && sink && text);
  GstCaps *c = gst_pad_query_caps(src, nullptr);
  GstCaps *want = gst_caps_from_string(
      "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=24000");
  EXPECT_TRUE(gst_caps_is_equal(c, want));
  gst_caps_unref(c);
  gst_caps_unref(want);
  c = gst_pad_query_caps(sink, nullptr);
  GstCaps *any16 = gst_caps_from_string(
      "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=16000");
  GstCaps *stereo = gst_caps_from_string(
      "audio/x-raw,format=S16LE,layout=interleaved,channels=2,rate=16000");
  EXPECT_TRUE(gst_caps_can_intersect(c, any16));
  EXPECT_FALSE(gst_caps_can_intersect(c, stereo));
  gst_caps_unref(c);
  gst_caps_unref(any16);
  gst_caps_unref(stereo);
  c = gst_pad_query_caps(text, nullptr);
  EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure(c, 0), "application/x-meshflow-event"));
  gst_caps_unref(c);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(text);
  gst_object_unref(e);
}

// The element runs from gst-launch-1.0 with the built plugin (mock provider: a live source that
// never ends by itself, so the run is interrupted after 2 s).
TEST(LlmProps, RunsFromGstLaunch) {
  const std::string plugin_dir = mf::test::env_path("MESHFLOW_PLUGIN_DIR");
  const std::string dir = mf::test::make_temp_dir();
  const std::map<std::string, std::string> env = {{"GST_PLUGIN_PATH", plugin_dir},
                                                   {"GST_REGISTRY", dir + "/registry.bin"}};
  auto r = mf::test::run_process(
      {"gst-launch-1.0", "audiotestsrc", "is-live=true", "!",
       "audio/x-raw,format=S16LE,channels=1,rate=48000", "!", "mfllmbridge", "name=b",
       "b.src", "!", "fakesink", "b.text", "!", "fakesink"},
      env, 60, 2.0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.out.find("Setting pipeline to PLAYING"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.err.find("ERROR"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.out;
}
