// The mixer's pure functions: sum / clip / mix-minus sample math against a brute-force
// reference (every output recomputed from the other inputs, O(N^2)), and the video grid layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "mixer/grid_layout.h"
#include "mixer/mix_math.h"

using namespace mf::mixer;

namespace {

// Brute force: output i = clip(sum over j != i of in[j]).
int16_t ref_minus_s16(const std::vector<std::vector<int16_t>> &in, size_t i, size_t k) {
  int64_t s = 0;
  for (size_t j = 0; j < in.size(); ++j)
    if (j != i) s += in[j][k];
  return int16_t(s > 32767 ? 32767 : (s < -32768 ? -32768 : s));
}

}  // namespace

TEST(MixMath, ClipS16SaturatesAtBothLimits) {
  EXPECT_EQ(clip_s16(0), 0);
  EXPECT_EQ(clip_s16(32767), 32767);
  EXPECT_EQ(clip_s16(32768), 32767);
  EXPECT_EQ(clip_s16(3 * 32767), 32767);
  EXPECT_EQ(clip_s16(-32768), -32768);
  EXPECT_EQ(clip_s16(-32769), -32768);
  EXPECT_EQ(clip_s16(3 * -32768), -32768);
}

TEST(MixMath, ClipF32HardClampsToUnitRange) {
  EXPECT_EQ(clip_f32(0.5), 0.5f);
  EXPECT_EQ(clip_f32(1.0), 1.0f);
  EXPECT_EQ(clip_f32(1.0000001), 1.0f);
  EXPECT_EQ(clip_f32(2.75), 1.0f);
  EXPECT_EQ(clip_f32(-1.0), -1.0f);
  EXPECT_EQ(clip_f32(-3.0), -1.0f);
}

TEST(MixMath, S16MixMinusEqualsBruteForceForManyInputs) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-32768, 32767);
  const size_t n = 961;  // odd length: no vector-width luck
  for (size_t inputs : {1u, 2u, 3u, 10u, 32u}) {
    SCOPED_TRACE(inputs);
    std::vector<std::vector<int16_t>> in(inputs, std::vector<int16_t>(n));
    for (auto &v : in)
      for (auto &s : v) s = int16_t(d(rng));
    // The extremes on the first samples: everyone at full scale, positive and negative.
    for (auto &v : in) {
      v[0] = 32767;
      v[1] = -32768;
      v[2] = 0;
    }
    std::vector<int32_t> total(n, 0);
    for (auto &v : in) accumulate_s16(total.data(), v.data(), n);
    std::vector<int16_t> all(n);
    clip_total_s16(all.data(), total.data(), n);
    for (size_t k = 0; k < n; ++k) {
      int64_t s = 0;
      for (auto &v : in) s += v[k];
      ASSERT_EQ(all[k], int16_t(s > 32767 ? 32767 : (s < -32768 ? -32768 : s))) << k;
    }
    for (size_t i = 0; i < inputs; ++i) {
      std::vector<int16_t> out(n);
      mix_minus_s16(out.data(), total.data(), in[i].data(), n);
      for (size_t k = 0; k < n; ++k) ASSERT_EQ(out[k], ref_minus_s16(in, i, k)) << i << "," << k;
    }
  }
}

TEST(MixMath, F32MixMinusEqualsBruteForceWithExactValues) {
  // Multiples of 1/1024 in [-1, 1]: every sum and difference is exact in float and double, so the
  // O(N) result must equal the brute force bit for bit.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> d(-1024, 1024);
  const size_t n = 517, inputs = 5;
  std::vector<std::vector<float>> in(inputs, std::vector<float>(n));
  for (auto &v : in)
    for (auto &s : v) s = float(d(rng)) / 1024.0f;
  std::vector<double> total(n, 0.0);
  for (auto &v : in) accumulate_f32(total.data(), v.data(), n);
  std::vector<float> all(n);
  clip_total_f32(all.data(), total.data(), n);
  size_t clipped = 0;
  for (size_t k = 0; k < n; ++k) {
    double s = 0;
    for (auto &v : in) s += v[k];
    clipped += (s > 1.0 || s < -1.0);
    ASSERT_EQ(all[k], float(s > 1.0 ? 1.0 : (s < -1.0 ? -1.0 : s))) << k;
  }
  EXPECT_GT(clipped, n / 4) << "the data must exercise clipping";
  for (size_t i = 0; i < inputs; ++i) {
    std::vector<float> out(n);
    mix_minus_f32(out.data(), total.data(), in[i].data(), n);
    for (size_t k = 0; k < n; ++k) {
      double s = 0;
      for (size_t j = 0; j < inputs; ++j)
        if (j != i) s += in[j][k];
      ASSERT_EQ(out[k], float(s > 1.0 ? 1.0 : (s < -1.0 ? -1.0 : s))) << i << "," << k;
    }
  }
}

TEST(GridLayout, OneTwoFourInputs) {
  using V = std::vector<Cell>;
  EXPECT_EQ(grid_layout(0, 1280, 720), V{});
  EXPECT_EQ(grid_layout(1, 1280, 720), (V{{0, 0, 1280, 720}}));
  EXPECT_EQ(grid_layout(2, 1280, 720), (V{{0, 0, 640, 720}, {640, 0, 640, 720}}));
  EXPECT_EQ(grid_layout(4, 1280, 720),
            (V{{0, 0, 640, 360}, {640, 0, 640, 360}, {0, 360, 640, 360}, {640, 360, 640, 360}}));
}

TEST(GridLayout, ShortLastRowIsCentred) {
  using V = std::vector<Cell>;
  EXPECT_EQ(grid_layout(3, 1280, 720), (V{{0, 0, 640, 360}, {640, 0, 640, 360}, {320, 360, 640, 360}}));
  auto five = grid_layout(5, 1920, 1080);  // 3 columns x 2 rows, 2 on the last row
  ASSERT_EQ(five.size(), 5u);
  EXPECT_EQ(five[3], (Cell{320, 540, 640, 540}));
  EXPECT_EQ(five[4], (Cell{960, 540, 640, 540}));
}

TEST(GridLayout, CellsTileTheFrameForAnyCount) {
  for (int n = 1; n <= 25; ++n) {
    for (auto [w, h] : {std::pair{1280, 720}, std::pair{641, 479}}) {
      auto cells = grid_layout(n, w, h);
      ASSERT_EQ(int(cells.size()), n);
      int cols = 1;
      while (cols * cols < n) ++cols;
      long area = 0;
      for (auto &c : cells) {
        EXPECT_GE(c.x, 0);
        EXPECT_GE(c.y, 0);
        EXPECT_LE(c.x + c.width, w);
        EXPECT_LE(c.y + c.height, h);
        EXPECT_GT(c.width, 0);
        EXPECT_GT(c.height, 0);
        area += long(c.width) * c.height;
      }
      const int rows = (n + cols - 1) / cols;
      if (n == cols * rows) EXPECT_EQ(area, long(w) * h) << n;  // full grid: no gap, no overlap
    }
  }
}
