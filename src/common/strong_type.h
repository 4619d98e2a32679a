// StrongType: a distinct integer type per concept (RegionId, ArenaOffset, ...), so that a
// region id cannot be passed where a byte offset is expected. Zero-cost: same size as Rep.
#ifndef KVSTASH_COMMON_STRONG_TYPE_H_
#define KVSTASH_COMMON_STRONG_TYPE_H_

#include <compare>
#include <cstddef>
#include <functional>

namespace kvstash {

template <typename Tag, typename Rep>
class StrongType {
 public:
  using rep_type = Rep;
  constexpr StrongType() = default;
  constexpr explicit StrongType(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongType&) const = default;

 private:
  Rep v_{};
};

}  // namespace kvstash

template <typename Tag, typename Rep>
struct std::hash<kvstash::StrongType<Tag, Rep>> {
  size_t operator()(const kvstash::StrongType<Tag, Rep>& v) const noexcept {
    return std::hash<Rep>()(v.value());
  }
};

#endif  // KVSTASH_COMMON_STRONG_TYPE_H_
