#include "cluster/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace kvstash::cluster {
namespace {

// The splitmix64 finalizer (Stafford's Mix13) of key_hash ^ seed. A bijection with full
// avalanche: the mixes of one key hash with different seeds never tie and behave as
// independent uniform draws, which is what makes each node's share weight/total (the balance
// and ranking tests check it). Both inputs are XXH3 outputs already, so the two multiplies are
// enough; XXH3's own rrmxmx finalizer costs 10% more per node for nothing measurable here.
// Its own copy, not admission's: placement is a wire contract, frozen by kFunction.
inline uint64_t Mix(uint64_t key_hash, uint64_t seed) {
  uint64_t x = key_hash ^ seed;
  x ^= x >> 30;
  x *= 0xBF58'476D'1CE4'E5B9ull;
  x ^= x >> 27;
  x *= 0x94D0'49BB'1331'11EBull;
  return x ^ (x >> 31);
}

// The weighted score draws u from the top 52 bits of the mix: 1 - u = steps / 2^53 with
// steps = (mixed >> 11) | 1, odd in [1, 2^53), so u is in (0, 1) and ln(u) finite and nonzero
// (52 bits: the half-step offset needs the double's 53rd). A smaller mix is a larger u, so
// the uniform path's smallest mix is the weighted path's best node at equal weights. Costs
// are counted in steps of 2^-53 so that a bound needs no division.
inline uint64_t Steps(uint64_t mixed) { return (mixed >> 11) | 1; }

// The weighted cost, 1 / score: max(-ln(u) * 2^53, steps) * scale, scale = 2^-53 / weight.
// The max changes nothing in exact arithmetic (-ln u > 1 - u) but keeps Bound below the cost
// after rounding too, which OwnerWeighted's shortcut relies on.
inline double Cost(uint64_t mixed, double scale) {
  uint64_t steps = Steps(mixed);
  double u = 1.0 - static_cast<double>(steps) * 0x1p-53;  // exact, so ln(u) keeps every bit
  return std::max(-std::log(u) * 0x1p53, static_cast<double>(steps)) * scale;
}

// A lower bound of Cost ((mixed >> 11) <= steps, and rounding is monotonic) that is tight
// where it matters: the winners have u near 1, where -ln(u) ~ 1 - u.
inline double Bound(uint64_t mixed, double scale) {
  return static_cast<double>(mixed >> 11) * scale;
}

// The best `n` (cost, index) pairs offered, lowest cost first. Indexes arrive in increasing
// order, so an equal cost stays behind the earlier (lower) index: the tie rule of Owner.
template <typename C>
class TopN {
 public:
  explicit TopN(size_t n) : n_(n) { best_.reserve(n); }

  bool full() const { return best_.size() == n_; }
  C worst() const { return best_.back().first; }  // REQUIRES: full()

  void Offer(C cost, size_t index) {
    if (full()) {
      if (!(cost < worst())) return;
      best_.pop_back();
    }
    // Insertion by swaps: n is small (a few fallbacks), and a library insert costs more.
    best_.emplace_back(cost, index);
    for (size_t j = best_.size() - 1; j > 0 && cost < best_[j - 1].first; --j) {
      std::swap(best_[j], best_[j - 1]);
    }
  }

  void Write(std::vector<size_t>* out) const {
    out->clear();
    for (const auto& e : best_) out->push_back(e.second);
  }

 private:
  size_t n_;
  std::vector<std::pair<C, size_t>> best_;
};

}  // namespace

std::string_view PlacementPart(std::string_view key) {
  size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

Placement::Placement(std::vector<PlacementNode> nodes) : nodes_(std::move(nodes)) {
  seeds_.reserve(nodes_.size());
  scales_.reserve(nodes_.size());
  for (const PlacementNode& n : nodes_) {
    assert(n.weight > 0 && std::isfinite(n.weight));
    seeds_.push_back(XXH3_64bits(n.name.data(), n.name.size()));
    scales_.push_back(0x1p-53 / n.weight);
    uniform_ = uniform_ && n.weight == nodes_.front().weight;
  }
}

uint64_t Placement::KeyHash(std::string_view key) {
  std::string_view part = PlacementPart(key);
  return XXH3_64bits(part.data(), part.size());
}

size_t Placement::Owner(uint64_t key_hash) const {
  assert(!empty());
  return uniform_ ? OwnerUniform(key_hash) : OwnerWeighted(key_hash);
}

// Equal weights: the smallest mix wins, the weighted cost's order at equal weights with no log
// and no float. Branch-free: about ln(N) of the N comparisons change the leader, at random, and
// each would be a mispredicted branch.
size_t Placement::OwnerUniform(uint64_t key_hash) const {
  size_t best = 0;
  uint64_t best_mixed = Mix(key_hash, seeds_[0]);
  for (size_t i = 1; i < seeds_.size(); ++i) {
    uint64_t mixed = Mix(key_hash, seeds_[i]);
    bool lower = mixed < best_mixed;  // strict: an equal mix keeps the lower index
    best = lower ? i : best;
    best_mixed = lower ? mixed : best_mixed;
  }
  return best;
}

// Every cost is at least its node's Bound. One branch-free pass finds the node with the
// smallest bound, and the second-smallest bound; when that node's cost is below the second
// bound it beats every other cost: the owner, for one log. Otherwise (for about half the
// winner's 1 - u of the keys: 2% at N = 64, 20% at N = 3) ScanWeighted decides.
size_t Placement::OwnerWeighted(uint64_t key_hash) const {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  size_t best = 0;
  double lowest = kInf, second = kInf;
  for (size_t i = 0; i < seeds_.size(); ++i) {
    double bound = Bound(Mix(key_hash, seeds_[i]), scales_[i]);
    second = std::min(second, std::max(lowest, bound));
    bool lower = bound < lowest;  // strict: an equal bound keeps the lower index
    best = lower ? i : best;
    lowest = lower ? bound : lowest;
  }
  double cost = Cost(Mix(key_hash, seeds_[best]), scales_[best]);
  return cost < second ? best : ScanWeighted(key_hash);
}

// Scores nodes in order, skipping the log of any node whose bound is already above the best
// cost so far (the best cost falls like a running minimum: about ln(N) + 2 logs per key at
// N >= 16).
// Skipping only when strictly above keeps the answer, ties included, that of scoring all.
size_t Placement::ScanWeighted(uint64_t key_hash) const {
  size_t best = 0;
  double best_cost = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < seeds_.size(); ++i) {
    uint64_t mixed = Mix(key_hash, seeds_[i]);
    if (Bound(mixed, scales_[i]) > best_cost) continue;
    double cost = Cost(mixed, scales_[i]);
    if (cost < best_cost) {
      best_cost = cost;
      best = i;
    }
  }
  return best;
}

void Placement::Rank(uint64_t key_hash, size_t n, std::vector<size_t>* out) const {
  n = std::min(n, size());
  if (n == 0) {
    out->clear();
    return;
  }
  if (uniform_) {
    TopN<uint64_t> top(n);
    for (size_t i = 0; i < seeds_.size(); ++i) top.Offer(Mix(key_hash, seeds_[i]), i);
    top.Write(out);
    return;
  }
  TopN<double> top(n);  // ScanWeighted's skip, against the n-th best cost so far
  for (size_t i = 0; i < seeds_.size(); ++i) {
    uint64_t mixed = Mix(key_hash, seeds_[i]);
    if (top.full() && Bound(mixed, scales_[i]) > top.worst()) continue;
    top.Offer(Cost(mixed, scales_[i]), i);
  }
  top.Write(out);
}

}  // namespace kvstash::cluster
