// Grid layout of the video mixer; see grid_layout.h.
#include "grid_layout.h"

#include <cstddef>
#include <cstdint>

namespace mf::mixer {

std::vector<Cell> grid_layout(int n, int width, int height) {
  std::vector<Cell> cells;
  if (n <= 0 || width <= 0 || height <= 0) return cells;
  int cols = 1;
  while (cols * cols < n) ++cols;
  const int rows = (n + cols - 1) / cols;
  cells.reserve(size_t(n));
  for (int i = 0; i < n; ++i) {
    const int r = i / cols, c = i % cols;
    const int in_row = (r == rows - 1) ? n - r * cols : cols;  // inputs on this row
    Cell cell;
    const int x0 = int(int64_t(c) * width / cols), x1 = int(int64_t(c + 1) * width / cols);
    const int y0 = int(int64_t(r) * height / rows), y1 = int(int64_t(r + 1) * height / rows);
    cell.width = x1 - x0;
    cell.height = y1 - y0;
    cell.y = y0;
    // Centre a short last row: shift by half of the empty cells' width.
    const int shift = int(int64_t(cols - in_row) * width / cols / 2);
    cell.x = x0 + shift;
    cells.push_back(cell);
  }
  return cells;
}

}  // namespace mf::mixer
