#include "common/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace kvstash {
namespace {

TEST(MutexTest, ExcludesAndCounts) {
  Mutex mu;
  int64_t n = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        MutexLock l(&mu);
        ++n;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(n, 400000);
}

TEST(MutexTest, AwaitWakesOnConditionAndTimesOut) {
  Mutex mu;
  bool ready = false;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    MutexLock l(&mu);
    ready = true;
  });
  {
    MutexLock l(&mu);
    mu.Await(Condition(&ready));
    EXPECT_TRUE(ready);
  }
  setter.join();
  int value = 0;
  auto is_five = [&] { return value == 5; };
  MutexLock l(&mu);
  EXPECT_FALSE(mu.AwaitWithTimeout(Condition(&is_five), std::chrono::milliseconds(10)));
}

TEST(CondVarTest, WaitWithTimeout) {
  Mutex mu;
  CondVar cv;
  MutexLock l(&mu);
  EXPECT_TRUE(cv.WaitWithTimeout(&mu, std::chrono::milliseconds(5)));
}

}  // namespace
}  // namespace kvstash
