// ComputeScope: exclusive scopes never overlap and are served in the order they were asked for;
// non-exclusive scopes do not wait.
#include "common/util/compute_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace qwen3tts {
namespace {

TEST(ComputeScope, ExclusiveScopesNeverOverlapAndAreServedInArrivalOrder) {
  ComputeGate gate;
  std::vector<int> order;
  std::mutex order_mu;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::vector<std::thread> workers;
  {
    ComputeScope first(gate, /*exclusive=*/true);  // holds the gate while the others line up behind it
    for (int i = 0; i < 4; ++i) {
      workers.emplace_back([&, i] {
        ComputeScope scope(gate, /*exclusive=*/true);
        const int now = ++inside;
        int seen = most_inside.load();
        while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
        }
        {
          std::lock_guard<std::mutex> lock(order_mu);
          order.push_back(i);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        --inside;
      });
      // Worker i has taken its ticket before worker i + 1 starts: arrival order is 0, 1, 2, 3.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(most_inside.load(), 1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(ComputeScope, NonExclusiveScopesDoNotWait) {
  ComputeGate gate;
  ComputeScope held(gate, /*exclusive=*/true);
  std::atomic<bool> ran{false};
  std::thread other([&] {
    ComputeScope scope(gate, /*exclusive=*/false);  // would deadlock the join below if it waited
    ran = true;
  });
  other.join();
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace qwen3tts
