// Declared work. A component says what one call of a phase did; the harness
// sums the declarations and derives rates from the phase's measured time.
#pragma once

namespace motifbench {

struct Work {
  double items = 0;          ///< e.g. cells updated, samples inferred or trained
  double bytes = 0;          ///< bytes read + written from memory (for GB/s and roofline)
  double flops = 0;          ///< floating-point operations
  double bytes_sent = 0;     ///< bytes put on a transport
};

}  // namespace motifbench
