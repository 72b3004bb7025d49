// Grid layout of the video mixer (mfmixer kind=video): pure function, no GStreamer.
//
// N inputs are placed on a grid of cols = ceil(sqrt(N)) columns and rows = ceil(N / cols) rows
// covering the whole output (1 -> 1x1, 2 -> 2x1, 3..4 -> 2x2, 5..6 -> 3x2, 7..9 -> 3x3, ...),
// in pad order, left to right, top to bottom. Cells tile the frame exactly (integer edges at
// k * width / cols), and a last row with fewer inputs is centred horizontally.
#pragma once

#include <vector>

namespace mf::mixer {

struct Cell {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const Cell &o) const {
    return x == o.x && y == o.y && width == o.width && height == o.height;
  }
};

/// Cells for n inputs on a width x height output; empty for n <= 0.
std::vector<Cell> grid_layout(int n, int width, int height);

}  // namespace mf::mixer
