// `motifbench compare BASE NEW`: matches runs and gives each key metric a
// verdict against the measured noise. Statistics live here, not in printers.
#pragma once

#include <string>
#include <vector>

namespace motifbench::detail {

/// Two-sided Mann-Whitney U test p-value (ties get mid-ranks). Exact by
/// enumeration when the samples are small (n1 + n2 <= 16), otherwise the
/// normal approximation with tie and continuity corrections.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

int compare_main(int argc, char** argv);

}  // namespace motifbench::detail
