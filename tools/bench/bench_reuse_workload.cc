#include "tools/bench/bench_reuse_workload.h"

namespace kvstash {

ReuseWorkload::Request ReuseWorkload::Next() {
  Request r;
  std::bernoulli_distribution follow_up(rate_);
  if (!conversations_.empty() && follow_up(rng_)) {
    std::uniform_int_distribution<size_t> pick(0, conversations_.size() - 1);
    std::vector<uint64_t>& conv = conversations_[pick(rng_)];
    r.reused = conv.size();
    for (uint32_t i = 0; i < turn_ && conv.size() < max_; ++i) conv.push_back(next_id_++);
    r.blocks = conv;
    return r;
  }
  std::vector<uint64_t> conv(first_);
  for (uint64_t& id : conv) id = next_id_++;
  r.blocks = conv;
  conversations_.push_back(std::move(conv));
  return r;
}

}  // namespace kvstash
