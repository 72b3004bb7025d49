// mfblur through GstHarness: accuracy against a plain double-precision 2-D Gaussian, edges,
// passthrough, regions, odd sizes, threads, and property changes while PLAYING.
//
// Tolerance: every output byte is within 2 of the unrounded reference value (kTolerance). The
// element's error budget: 14-bit weights (rounding residue on the centre tap), a 12-bit
// intermediate row and the final rounding (0.5).
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "blur_test_util.h"
#include "meshflow/sdk/node.h"
#include "meshflow/sdk/ptr.h"

using namespace blurtest;

namespace {

constexpr double kTolerance = 2.0;

const char *const kFormats[] = {"I420", "YV12", "NV12", "NV21", "NV16", "NV24", "Y444", "Y42B",
                                "Y41B", "A420", "GRAY8", "RGBA", "BGRA", "ARGB", "ABGR", "RGBx",
                                "BGRx", "xRGB", "xBGR", "AYUV", "RGB",  "BGR"};

struct RunResult {
  BufferPtr in, out;
  GstVideoInfo info;
};

// Pushes one frame through a fresh mfblur and pulls the result.
RunResult run_once(const std::string &format, int w, int h, const std::string &props,
                   Pattern pattern, unsigned seed = 1, uint8_t constant = 0) {
  RunResult r;
  r.info = video_info(format, w, h);
  auto harness = make_blur(format, w, h, props);
  EXPECT_TRUE(harness);
  if (!harness) return r;
  r.in = make_frame(r.info, pattern, seed, constant);
  EXPECT_EQ(gst_harness_push(harness.get(), gst_buffer_ref(r.in.get())), GST_FLOW_OK);
  r.out = mf::adopt(gst_harness_pull(harness.get()));
  EXPECT_TRUE(r.out);
  return r;
}

// Worst error over all planes against the reference, region in luma pixels.
double worst_error(const RunResult &r, double sigma, const Region &region, const std::string &what) {
  const auto in = planes_of(r.info, r.in.get());
  const auto out = planes_of(r.info, r.out.get());
  EXPECT_EQ(in.size(), out.size());
  double worst = 0.0;
  for (size_t p = 0; p < in.size() && p < out.size(); ++p)
    worst = std::max(worst, check_plane(in[p], out[p], sigma, region,
                                        what + " plane " + std::to_string(p)));
  return worst;
}

}  // namespace

TEST(MfBlur, IsTheBlurNode) {
  auto factory = mf::adopt(gst_element_factory_find("mfblur"));
  ASSERT_TRUE(factory);
  EXPECT_STREQ(gst_element_factory_get_metadata(factory.get(), MF_NODE_METADATA_KEY), "blur");
}

// Every format x several sigmas x random and structured content, whole frame.
class MfBlurReference : public ::testing::TestWithParam<std::tuple<const char *, double>> {};

TEST_P(MfBlurReference, MatchesDoubleGaussianWithinTolerance) {
  const std::string format = std::get<0>(GetParam());
  const double sigma = std::get<1>(GetParam());
  const int W = 48, H = 36;
  for (Pattern pattern : {Pattern::kRandom, Pattern::kStructured}) {
    const std::string props = "sigma=" + std::to_string(sigma) + " n-threads=2";
    RunResult r = run_once(format, W, H, props, pattern, 7);
    ASSERT_TRUE(r.out);
    const double worst = worst_error(r, sigma, Region{0, 0, W, H}, format);
    EXPECT_LE(worst, kTolerance) << format << " sigma " << sigma
                                 << (pattern == Pattern::kRandom ? " random" : " structured");
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, MfBlurReference,
                         ::testing::Combine(::testing::ValuesIn(kFormats),
                                            ::testing::Values(0.5, 1.0, 4.0, 10.0)),
                         [](const auto &info) {
                           return std::string(std::get<0>(info.param)) + "_sigma" +
                                  std::to_string(int(std::get<1>(info.param) * 10));
                         });

TEST(MfBlur, ConstantImageStaysExactlyConstant) {
  for (const char *format : kFormats)
    for (uint8_t value : {uint8_t(0), uint8_t(37), uint8_t(255)}) {
      RunResult r = run_once(format, 35, 21, "sigma=10", Pattern::kConstant, 1, value);
      ASSERT_TRUE(r.out);
      for (const Plane &p : planes_of(r.info, r.out.get()))
        for (uint8_t b : p.bytes) ASSERT_EQ(b, value) << format;
    }
}

TEST(MfBlur, BrightBorderIsNotDarkened) {
  // Left half 255, right half 0: clamping keeps column 0 at 255 (zero padding would give ~128),
  // on every row including the first and the last.
  for (const char *format : {"GRAY8", "I420", "RGBA", "NV12"}) {
    RunResult r = run_once(format, 96, 40, "sigma=4", Pattern::kBorderStep);
    ASSERT_TRUE(r.out);
    for (const Plane &p : planes_of(r.info, r.out.get())) {
      const int safe = p.width / 2 - 3 * 4 / (1 << p.w_sub) - 1;  // columns beyond the kernel
      for (int y = 0; y < p.height; ++y)
        for (int x = 0; x < std::max(1, safe); ++x)
          for (int c = 0; c < p.step; ++c) ASSERT_EQ(p.at(x, y, c), 255) << format << " " << x << "," << y;
    }
  }
}

TEST(MfBlur, SigmaZeroIsPassthrough) {
  const GstVideoInfo info = video_info("I420", 64, 48);
  auto harness = make_blur("I420", 64, 48, "sigma=0");
  ASSERT_TRUE(harness);
  BufferPtr in = make_frame(info, Pattern::kRandom);
  ASSERT_EQ(gst_harness_push(harness.get(), gst_buffer_ref(in.get())), GST_FLOW_OK);
  BufferPtr out = mf::adopt(gst_harness_pull(harness.get()));
  EXPECT_EQ(out.get(), in.get());  // the very same buffer: no copy
}

TEST(MfBlur, RegionBlursInsideOnlyAndSamplesWholeFrame) {
  // Even luma coordinates: the chroma rectangle is exactly half.
  const Region region{10, 6, 10 + 30, 6 + 20};
  for (const char *format : {"I420", "NV12", "RGBA", "Y444", "BGR"}) {
    RunResult r = run_once(format, 64, 48, "sigma=3 x=10 y=6 width=30 height=20", Pattern::kRandom, 3);
    ASSERT_TRUE(r.out);
    EXPECT_LE(worst_error(r, 3.0, region, format), kTolerance) << format;
    // And it really is blurred inside: random noise loses most of its contrast.
    const auto in = planes_of(r.info, r.in.get()), out = planes_of(r.info, r.out.get());
    EXPECT_NE(in[0].bytes, out[0].bytes) << format;
  }
}

TEST(MfBlur, RegionPartlyOutsideIsClipped) {
  const int W = 50, H = 34;
  RunResult r = run_once("I420", W, H, "sigma=2 x=30 y=20 width=500 height=400", Pattern::kRandom, 5);
  ASSERT_TRUE(r.out);
  EXPECT_LE(worst_error(r, 2.0, Region{30, 20, W, H}, "I420"), kTolerance);
  // width/height 0 = to the edge of the frame.
  RunResult r2 = run_once("RGBA", W, H, "sigma=2 x=8 y=4", Pattern::kRandom, 6);
  ASSERT_TRUE(r2.out);
  EXPECT_LE(worst_error(r2, 2.0, Region{8, 4, W, H}, "RGBA"), kTolerance);
  // Entirely outside: a plain copy.
  RunResult r3 = run_once("NV12", W, H, "sigma=2 x=60 y=0 width=10", Pattern::kRandom, 7);
  ASSERT_TRUE(r3.out);
  EXPECT_LE(worst_error(r3, 2.0, Region{W, 0, W, H}, "NV12"), kTolerance);
}

TEST(MfBlur, OddSizesAndPlanesNarrowerThanTheRadius) {
  struct Case { const char *format; int w, h; double sigma; };
  for (const Case &c : {Case{"I420", 33, 17, 4.0}, Case{"NV12", 33, 17, 1.0}, Case{"Y41B", 37, 9, 2.0},
                        Case{"GRAY8", 5, 4, 4.0}, Case{"RGBA", 3, 7, 10.0}, Case{"I420", 1, 1, 6.0},
                        Case{"NV21", 7, 3, 10.0}}) {
    RunResult r = run_once(c.format, c.w, c.h, "sigma=" + std::to_string(c.sigma), Pattern::kRandom, 9);
    ASSERT_TRUE(r.out) << c.format;
    EXPECT_LE(worst_error(r, c.sigma, Region{0, 0, c.w, c.h}, c.format), kTolerance)
        << c.format << " " << c.w << "x" << c.h << " sigma " << c.sigma;
  }
}

TEST(MfBlur, OneAndFourThreadsAreBitIdentical) {
  struct Case { const char *format; int w, h; const char *props; };
  for (const Case &c : {Case{"I420", 320, 240, "sigma=4"}, Case{"NV12", 101, 77, "sigma=2.5"},
                        Case{"RGBA", 160, 90, "sigma=6"}, Case{"Y444", 97, 3, "sigma=1"},
                        Case{"I420", 128, 96, "sigma=3 x=17 y=9 width=60 height=41"}}) {
    RunResult one = run_once(c.format, c.w, c.h, std::string(c.props) + " n-threads=1", Pattern::kRandom, 11);
    RunResult four = run_once(c.format, c.w, c.h, std::string(c.props) + " n-threads=4", Pattern::kRandom, 11);
    ASSERT_TRUE(one.out && four.out);
    const auto a = planes_of(one.info, one.out.get()), b = planes_of(four.info, four.out.get());
    ASSERT_EQ(a.size(), b.size());
    for (size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p].bytes, b[p].bytes) << c.format << " plane " << p;
  }
}

TEST(MfBlur, PropertiesChangeWhilePlaying) {
  const int W = 64, H = 48;
  const GstVideoInfo info = video_info("I420", W, H);
  auto harness = make_blur("I420", W, H, "sigma=2 n-threads=1");
  ASSERT_TRUE(harness);
  GstElement *blur = harness->element;  // borrowed from the harness, which outlives it here
  ASSERT_EQ(GST_STATE(blur), GST_STATE_PLAYING);

  auto push_pull = [&](unsigned seed) {
    RunResult r;
    r.info = info;
    r.in = make_frame(info, Pattern::kRandom, seed);
    EXPECT_EQ(gst_harness_push(harness.get(), gst_buffer_ref(r.in.get())), GST_FLOW_OK);
    r.out = mf::adopt(gst_harness_pull(harness.get()));
    return r;
  };

  RunResult r = push_pull(1);
  EXPECT_LE(worst_error(r, 2.0, Region{0, 0, W, H}, "sigma 2"), kTolerance);

  g_object_set(blur, "sigma", 6.0, "n-threads", 3, NULL);  // kernel rebuilt, pool resized
  r = push_pull(2);
  EXPECT_LE(worst_error(r, 6.0, Region{0, 0, W, H}, "sigma 6"), kTolerance);

  g_object_set(blur, "x", 8, "y", 4, "width", 24, "height", 16, NULL);
  r = push_pull(3);
  EXPECT_LE(worst_error(r, 6.0, Region{8, 4, 32, 20}, "region"), kTolerance);

  g_object_set(blur, "sigma", 0.0, NULL);
  r = push_pull(4);
  EXPECT_EQ(r.out.get(), r.in.get());  // passthrough now

  g_object_set(blur, "sigma", 1.0, "width", 0, "height", 0, "x", 0, "y", 0, "n-threads", 0, NULL);
  r = push_pull(5);
  EXPECT_NE(r.out.get(), r.in.get());
  EXPECT_LE(worst_error(r, 1.0, Region{0, 0, W, H}, "sigma 1"), kTolerance);
}

TEST(MfBlur, RepeatedStateChangesStartAndStopThePool) {
  auto blur = mf::sink(gst_element_factory_make("mfblur", nullptr));
  ASSERT_TRUE(blur);
  g_object_set(blur.get(), "n-threads", 4, NULL);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(gst_element_set_state(blur.get(), GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(gst_element_set_state(blur.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
}
