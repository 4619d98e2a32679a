// Placement: which storage node owns a key, by weighted rendezvous (highest random weight)
// hashing over the nodes' stable names.
//
// Every node scores every key, score = -weight / ln(u), u in (0, 1) drawn from
// XXH3(key placement part) mixed with the node's seed (XXH3 of its name); the highest score
// owns the key, and the ranking gives each key an ordered list of fallbacks. Properties the
// cluster leans on (each tested in placement_test.cc):
// * a key's owner depends only on the set of (name, weight): every client and node computes
//   the same answer with no coordination and nothing on the data path;
// * a joining node takes about weight/total of the keys, all from other nodes in proportion,
//   and no key moves between nodes that stayed; a leaving node's keys spread over the rest;
// * the node a key had before a join is its second-ranked node now (the previous owner).
//
// The exact function (kFunction; placement.cc spells out every step): mixed = splitmix64
// finalizer of (key hash ^ seed), a bijection; 1 - u = ((mixed >> 11) | 1) / 2^53. With all
// weights equal the owner is the node with the smallest `mixed` (the largest u: no log, no
// float). Otherwise it is the node with the smallest cost = max(-ln u, 1 - u) / weight, the
// reciprocal of the score (the max is a no-op in exact arithmetic that keeps 1 - u a lower
// bound after rounding). Ties (about 2^-52 per pair of nodes) go to the lower index.
//
// Cost: N mixes per key (1.5-2 ns each on a 2.8 GHz Xeon), plus usually one log when weighted: a
// pass over the nodes' lower bounds (1 - u) / weight finds the likely owner, and its cost beating
// every other bound proves it; only when that fails (about (1 - u)/2 of the keys, 2% at N = 64) are
// more logs taken. Rank costs more (it scores, and allocates, for its n best).
//
// Keys with a hash tag (Redis Cluster's rule: the text between the first '{' and the first
// '}' after it, when non-empty) are placed by the tag alone, so a connector can keep a run of
// chained blocks on one node ("{req42}/blk7").
//
// The function is named kFunction and written to etcd with the cluster's config: nodes and
// clients with another function refuse to join (a mismatch would place keys differently).
// Changing any step above (mixer, seed, u, cost, tie rule) is a new kFunction: the golden
// test in placement_test.cc pins the old one.
//
// Thread safety: immutable after construction; share freely.
#ifndef KVSTASH_CLUSTER_PLACEMENT_H_
#define KVSTASH_CLUSTER_PLACEMENT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvstash::cluster {

struct PlacementNode {
  std::string name;     // stable across restarts; what the key hashes against
  double weight = 1.0;  // > 0; relative capacity
};

// The part of `key` that places it: its hash tag if it has a non-empty one, else the key.
std::string_view PlacementPart(std::string_view key);

class Placement {
 public:
  static constexpr std::string_view kFunction = "hrw-xxh3-v1";

  Placement() = default;
  // Nodes are identified by their index in `nodes` (kept in the given order); which node,
  // by name, owns a key does not depend on that order (barring ties). REQUIRES: distinct names;
  // each weight > 0 and finite.
  explicit Placement(std::vector<PlacementNode> nodes);

  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  const PlacementNode& node(size_t i) const { return nodes_[i]; }

  // XXH3-64 of PlacementPart(key): compute once per key, reuse for Owner/Rank.
  static uint64_t KeyHash(std::string_view key);

  // Index of the owner. REQUIRES: !empty().
  size_t Owner(uint64_t key_hash) const;
  size_t Owner(std::string_view key) const { return Owner(KeyHash(key)); }
  // Indexes of the best min(n, size()) nodes for the key, best first, into `*out` (replacing its
  // contents). Rank(h, 1)[0] == Owner(h); Rank(h, 2)[1] is where the key goes if its owner leaves.
  void Rank(uint64_t key_hash, size_t n, std::vector<size_t>* out) const;

 private:
  size_t OwnerUniform(uint64_t key_hash) const;
  size_t OwnerWeighted(uint64_t key_hash) const;
  size_t ScanWeighted(uint64_t key_hash) const;

  std::vector<PlacementNode> nodes_;
  std::vector<uint64_t> seeds_;  // XXH3 of each name, parallel to nodes_
  std::vector<double> scales_;   // 2^-53 / weight, parallel to nodes_: costs are in 2^-53 steps
  bool uniform_ = true;          // all weights equal: compare the mixed hashes themselves
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_PLACEMENT_H_
