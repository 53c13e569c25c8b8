// AsyncInference: the inference runs while the caller works, errors come back
// at wait(), and the hidden time is accounted.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "motifbench/async_inference.hpp"

namespace motifbench {
namespace {

// A stand-in model (unit test only): out = 2 * in after a fixed delay, or an error.
class SlowDoubler final : public SurrogateClient {
 public:
  explicit SlowDoubler(int delay_ms) : m_delay(delay_ms) {}
  void infer(const float* in, std::int64_t batch, float* out) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(m_delay));
    if (fail) throw std::runtime_error("model exploded");
    for (std::int64_t i = 0; i < batch; ++i) out[i] = 2 * in[i];
  }
  TrainReport train(const float*, const float*, std::int64_t, const TrainOptions&) override { return {}; }
  void save(const std::string&) override {}
  std::int64_t bytes_copied() const override { return 0; }
  std::int64_t in_features() const override { return 1; }
  std::int64_t out_features() const override { return 1; }
  std::string describe() const override { return "slow doubler"; }
  bool fail = false;

 private:
  int m_delay;
};

TEST(AsyncInference, RunsWhileTheCallerWorksAndCountsTheHiddenTime) {
  SlowDoubler model(50);
  AsyncInference ai(model);
  float in[3] = {1, 2, 3}, out[3] = {0, 0, 0};
  ai.start(in, 3, out);
  EXPECT_THROW(ai.start(in, 3, out), std::logic_error) << "one inference at a time";
  std::this_thread::sleep_for(std::chrono::milliseconds(80));  // the caller's own work, longer than the model's
  const double ns = ai.wait();
  EXPECT_EQ(out[2], 6.0f);
  EXPECT_GE(ns, 50e6);
  EXPECT_NEAR(ai.busy_s(), ns * 1e-9, 1e-12);
  EXPECT_LT(ai.waited_s(), ai.busy_s()) << "the wait found it done: its time was hidden";
  // Nothing to overlap with: the caller waits for (nearly) all of it.
  ai.start(in, 3, out);
  ai.wait();
  EXPECT_GT(ai.waited_s(), 0.04);
}

TEST(AsyncInference, AnErrorComesBackAtWaitAndTheNextCallWorks) {
  SlowDoubler model(1);
  AsyncInference ai(model);
  float in[1] = {4}, out[1] = {0};
  model.fail = true;
  ai.start(in, 1, out);
  EXPECT_THROW(ai.wait(), std::runtime_error);
  model.fail = false;
  ai.start(in, 1, out);
  ai.wait();
  EXPECT_EQ(out[0], 8.0f);
}

TEST(AsyncInference, DestroyedWithAnInferenceInFlightWaitsForIt) {
  SlowDoubler model(30);
  float in[1] = {1}, out[1] = {0};
  {
    AsyncInference ai(model);
    ai.start(in, 1, out);
  }
  EXPECT_EQ(out[0], 2.0f);
}

}  // namespace
}  // namespace motifbench
