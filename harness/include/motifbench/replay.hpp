// A bounded replay buffer for a mini-app's training samples: inputs and
// targets in two flat vectors, the oldest samples dropped beyond a cap, so
// that a retraining costs the same late in a run as early on.
#pragma once

#include <cstddef>
#include <vector>

namespace motifbench {

/// Keeps the most recent `cap` samples of `x` (`x_width` values a sample) and
/// `y` (one value a sample); returns how many it dropped.
template <class T>
std::size_t keep_most_recent(std::vector<T>& x, std::vector<T>& y, std::size_t x_width, std::size_t cap) {
  if (y.size() <= cap) return 0;
  const std::size_t drop = y.size() - cap;
  y.erase(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(drop));
  x.erase(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(drop * x_width));
  return drop;
}

}  // namespace motifbench
