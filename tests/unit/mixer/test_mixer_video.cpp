// mfmixer kind=video: the compositor pads behind sink_%u get the grid cells for 1, 2 and 4
// inputs and re-flow when one is released or the size changes; frames come out at the
// configured size.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "meshflow/sdk/ptr.h"

namespace {

struct Rect {
  int x, y, w, h;
  bool operator==(const Rect &o) const { return x == o.x && y == o.y && w == o.w && h == o.h; }
};

std::ostream &operator<<(std::ostream &os, const Rect &r) {
  return os << r.w << "x" << r.h << "@(" << r.x << "," << r.y << ")";
}

// Where the compositor draws the input fed through the mixer's pad `pad`.
Rect cell_of(GstPad *pad) {
  auto target = mf::adopt(gst_ghost_pad_get_target(GST_GHOST_PAD(pad)));
  EXPECT_TRUE(target);
  Rect r{-1, -1, -1, -1};
  if (target) g_object_get(target.get(), "xpos", &r.x, "ypos", &r.y, "width", &r.w, "height", &r.h, nullptr);
  return r;
}

mf::Ptr<GstElement> make_video_mixer() {
  auto m = mf::sink(gst_element_factory_make("mfmixer", nullptr));
  EXPECT_TRUE(m);
  gst_util_set_object_arg(G_OBJECT(m.get()), "kind", "video");
  return m;
}

}  // namespace

TEST(MixerVideo, GridForOneTwoFourInputsAndReflowOnRelease) {
  auto m = make_video_mixer();
  ASSERT_EQ(gst_element_set_state(m.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  std::vector<GstPad *> pads;
  auto request = [&] { pads.push_back(gst_element_request_pad_simple(m.get(), "sink_%u")); };

  request();
  ASSERT_TRUE(pads[0]);
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 1280, 720}));

  request();
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 640, 720}));
  EXPECT_EQ(cell_of(pads[1]), (Rect{640, 0, 640, 720}));

  request();
  request();
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 640, 360}));
  EXPECT_EQ(cell_of(pads[1]), (Rect{640, 0, 640, 360}));
  EXPECT_EQ(cell_of(pads[2]), (Rect{0, 360, 640, 360}));
  EXPECT_EQ(cell_of(pads[3]), (Rect{640, 360, 640, 360}));

  // The second input leaves: the remaining three re-flow (2x2, last row centred).
  gst_element_release_request_pad(m.get(), pads[1]);
  gst_object_unref(pads[1]);
  pads.erase(pads.begin() + 1);
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 640, 360}));
  EXPECT_EQ(cell_of(pads[1]), (Rect{640, 0, 640, 360}));
  EXPECT_EQ(cell_of(pads[2]), (Rect{320, 360, 640, 360}));

  // Down to two, then a new size re-flows too.
  gst_element_release_request_pad(m.get(), pads[0]);
  gst_object_unref(pads[0]);
  pads.erase(pads.begin());
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 640, 720}));
  EXPECT_EQ(cell_of(pads[1]), (Rect{640, 0, 640, 720}));
  g_object_set(m.get(), "width", 640, "height", 480, nullptr);
  EXPECT_EQ(cell_of(pads[0]), (Rect{0, 0, 320, 480}));
  EXPECT_EQ(cell_of(pads[1]), (Rect{320, 0, 320, 480}));

  for (GstPad *p : pads) {
    gst_element_release_request_pad(m.get(), p);
    gst_object_unref(p);
  }
  EXPECT_EQ(GST_ELEMENT(m.get())->numsinkpads, 0u);
  gst_element_set_state(m.get(), GST_STATE_NULL);
}

TEST(MixerVideo, FramesComeOutAtTheConfiguredSize) {
  GError *err = nullptr;
  auto pipe = mf::sink(gst_parse_launch(
      "mfmixer kind=video width=320 height=240 background=white name=m ! fakesink name=out "
      "videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120,framerate=30/1 ! m. "
      "videotestsrc num-buffers=5 pattern=ball ! video/x-raw,width=200,height=100,framerate=30/1 ! m.",
      &err));
  ASSERT_TRUE(pipe) << (err ? err->message : "");
  g_clear_error(&err);
  auto sink = mf::adopt(gst_bin_get_by_name(GST_BIN(pipe.get()), "out"));
  auto sinkpad = mf::adopt(gst_element_get_static_pad(sink.get(), "sink"));
  int frames = 0;
  gst_pad_add_probe(sinkpad.get(), GST_PAD_PROBE_TYPE_BUFFER,
                    [](GstPad *, GstPadProbeInfo *, gpointer n) -> GstPadProbeReturn {
                      ++*static_cast<int *>(n);
                      return GST_PAD_PROBE_OK;
                    },
                    &frames, nullptr);
  ASSERT_NE(gst_element_set_state(pipe.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto bus = mf::adopt(gst_element_get_bus(pipe.get()));
  auto msg = mf::adopt(gst_bus_timed_pop_filtered(bus.get(), 30 * GST_SECOND,
                                                  GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  ASSERT_TRUE(msg);
  EXPECT_EQ(GST_MESSAGE_TYPE(msg.get()), GST_MESSAGE_EOS);
  auto caps = mf::adopt(gst_pad_get_current_caps(sinkpad.get()));
  ASSERT_TRUE(caps);
  int w = 0, h = 0;
  GstStructure *s = gst_caps_get_structure(caps.get(), 0);
  gst_structure_get_int(s, "width", &w);
  gst_structure_get_int(s, "height", &h);
  EXPECT_EQ(w, 320);
  EXPECT_EQ(h, 240);
  EXPECT_GE(frames, 5);
  gst_element_set_state(pipe.get(), GST_STATE_NULL);
}
