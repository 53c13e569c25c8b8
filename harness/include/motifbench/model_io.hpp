// Inference on Kokkos Views in any memory space, with the copies that the
// spaces need made explicit: timed as their own phases and counted.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>

#include "motifbench/run_context.hpp"
#include "motifbench/surrogate.hpp"

namespace motifbench {

/// model.infer on Views: `in` holds [batch x in_features] floats and `out`
/// [batch x out_features], contiguous (1-D, or LayoutRight), in any memory
/// space.
/// - Where the model reads the Views in place (host Views and a host model;
///   GPU Views and a tight model on that GPU), nothing is copied: the Kokkos
///   work that filled `in` is fenced first, and the model's stream is
///   synchronised before returning.
/// - Otherwise (GPU Views and a host or remote model), the Views are copied to
///   host memory and back, timed as the phases `copy_to_model` and
///   `copy_from_model`, whose bytes are declared as their work.
/// - Host Views with a model on a GPU: the model copies them (counted in its
///   bytes_copied(); the time is inside the inference).
/// coupling.tensor_copy=always takes the explicit-copy path for host Views
/// too, so that its cost can be measured on any machine.
template <class InView, class OutView>
void infer_views(RunContext& ctx, SurrogateClient& model, const InView& in, std::int64_t batch, const OutView& out) {
  constexpr bool in_host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename InView::memory_space>::accessible;
  constexpr bool out_host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename OutView::memory_space>::accessible;
  const bool model_on_device = model.memory_space() == MemorySpace::Cuda;
  const bool force_copy = ctx.config().get_string("coupling.tensor_copy") == "always";
  Kokkos::fence();  // whatever filled `in` is done before the model reads it
  if (!force_copy) {
    if (in_host && out_host) {
      model.infer(in.data(), batch, out.data());
      return;
    }
    if (!in_host && !out_host && model_on_device) {
      model.infer_device(in.data(), batch, out.data());
      return;
    }
  }
  // The explicit path: host copies of both Views (create_mirror always allocates).
  auto host_in = Kokkos::create_mirror(Kokkos::HostSpace(), in);
  auto host_out = Kokkos::create_mirror(Kokkos::HostSpace(), out);
  const PhaseId to_model = ctx.phase("copy_to_model");
  const PhaseId from_model = ctx.phase("copy_from_model");
  {
    ScopedPhase p(ctx, to_model);
    Kokkos::deep_copy(host_in, in);
  }
  ctx.declare_work(to_model, Work{static_cast<double>(batch), 2.0 * static_cast<double>(in.span() * sizeof(float)), 0, 0});
  model.infer(host_in.data(), batch, host_out.data());
  {
    ScopedPhase p(ctx, from_model);
    Kokkos::deep_copy(out, host_out);
  }
  ctx.declare_work(from_model, Work{static_cast<double>(batch), 2.0 * static_cast<double>(out.span() * sizeof(float)), 0, 0});
}

}  // namespace motifbench
