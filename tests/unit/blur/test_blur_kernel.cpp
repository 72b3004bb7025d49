// The pure parts of the blur node: fixed-point kernels, the plane function, the worker pool.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "blur/blur_kernel.h"
#include "blur/worker_pool.h"

using namespace mf::blur;

TEST(BlurKernel, RadiusIsCeilThreeSigma) {
  EXPECT_EQ(kernel_radius(0.0), 0);
  EXPECT_EQ(kernel_radius(0.01), 1);
  EXPECT_EQ(kernel_radius(0.5), 2);
  EXPECT_EQ(kernel_radius(1.0), 3);
  EXPECT_EQ(kernel_radius(4.0), 12);
  EXPECT_EQ(kernel_radius(10.0), 30);
  EXPECT_EQ(kernel_radius(64.0), 192);
}

TEST(BlurKernel, WeightsSumExactlyAndAreWithinOneUnitOfIdeal) {
  for (double sigma : {0.01, 0.25, 0.5, 1.0, 1.7, 4.0, 10.0, 33.3, 64.0}) {
    const Kernel k = make_kernel(sigma);
    ASSERT_EQ(k.w.size(), size_t(k.radius) + 1) << sigma;
    double norm = 0.0;
    for (int i = -k.radius; i <= k.radius; ++i) norm += std::exp(-(i * i) / (2 * sigma * sigma));
    long sum = 0;
    for (int i = 0; i <= k.radius; ++i) {
      sum += (i == 0 ? 1L : 2L) * k.w[i];
      const double ideal = std::exp(-(i * i) / (2 * sigma * sigma)) / norm * (1 << kWeightBits);
      EXPECT_LT(std::fabs(k.w[i] - ideal), 1.0) << "sigma " << sigma << " tap " << i;
    }
    EXPECT_EQ(sum, 1L << kWeightBits) << sigma;
  }
}

TEST(BlurKernel, PlaneClampsNarrowPlaneAndKeepsConstant) {
  // 3 pixels wide, radius 12: every tap beyond the border is the border pixel.
  const int W = 3, H = 2, step = 4;
  std::vector<uint8_t> src(size_t(W) * H * step, 77), dst(src.size(), 0);
  const Kernel k = make_kernel(4.0);
  PlaneView v{src.data(), W * step, dst.data(), W * step, W, H, step};
  Scratch s;
  blur_rows(v, k, k, Rect{0, 0, W, H}, 0, H, s);
  for (uint8_t b : dst) EXPECT_EQ(b, 77);
}

TEST(BlurKernel, RowsAreIndependentOfBanding) {
  const int W = 57, H = 31, step = 2;
  std::vector<uint8_t> src(size_t(W) * H * step);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t((i * 2654435761u) >> 13);
  std::vector<uint8_t> whole(src.size()), banded(src.size());
  const Kernel kx = make_kernel(2.5), ky = make_kernel(1.25);
  Scratch s1, s2;
  blur_rows(PlaneView{src.data(), W * step, whole.data(), W * step, W, H, step}, kx, ky,
            Rect{3, 4, 50, 29}, 0, H, s1);
  for (int y = 0; y < H; y += 7)
    blur_rows(PlaneView{src.data(), W * step, banded.data(), W * step, W, H, step}, kx, ky,
              Rect{3, 4, 50, 29}, y, y + 7, s2);
  EXPECT_EQ(whole, banded);
}

TEST(WorkerPool, RunsEveryTaskOnceOnEverySize) {
  for (unsigned n : {1u, 2u, 4u, 8u}) {
    WorkerPool pool(n);
    EXPECT_EQ(pool.size(), n);
    for (int batch = 0; batch < 50; ++batch) {
      std::vector<std::atomic<int>> hits(97);
      std::atomic<bool> bad_participant{false};
      ASSERT_TRUE(pool.run(hits.size(), [&](size_t i, unsigned p) {
        if (p >= n) bad_participant = true;
        hits[i].fetch_add(1);
      }));
      for (auto &h : hits) EXPECT_EQ(h.load(), 1);
      EXPECT_FALSE(bad_participant.load());
    }
  }
}

TEST(WorkerPool, ThrowingTaskIsReportedNotPropagated) {
  WorkerPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_FALSE(pool.run(10, [&](size_t i, unsigned) {
    ran.fetch_add(1);
    if (i == 4) throw std::runtime_error("boom");
  }));
  EXPECT_EQ(ran.load(), 10);
  EXPECT_TRUE(pool.run(3, [](size_t, unsigned) {}));  // usable afterwards
}
