// Shared by the tight benchmarks: medians, and a bare LibTorch MLP given the
// weights of a tight client.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "motifbench/surrogate.hpp"

namespace motifbench::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// 2 -> width -> width -> 1 with tanh, holding `client`'s weights (exported
/// through its TorchScript save). Returns the model's Linear layers in order.
inline std::vector<torch::nn::LinearImpl*> copy_client_weights(SurrogateClient& client, torch::nn::Sequential& bare,
                                                           const std::string& scratch_file) {
  client.save(scratch_file);
  auto saved = torch::jit::load(scratch_file);
  std::remove(scratch_file.c_str());
  torch::NoGradGuard ng;
  std::vector<torch::nn::LinearImpl*> layers;
  int layer = 0;
  for (auto& m : bare->children())
    if (auto* lin = m->as<torch::nn::Linear>()) {
      lin->weight.copy_(saved.attr("w" + std::to_string(layer)).toTensor());
      lin->bias.copy_(saved.attr("b" + std::to_string(layer)).toTensor());
      layers.push_back(lin);
      ++layer;
    }
  return layers;
}

}  // namespace motifbench::bench
