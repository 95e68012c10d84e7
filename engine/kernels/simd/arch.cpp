#include "kernels/simd/arch.h"

namespace kiln::simd {

namespace {
struct name_of {
  template <class Arch>
  const char* operator()(Arch) const noexcept {
    return Arch::name();
  }
};
}  // namespace

const char* best_arch_name() { return dispatch(name_of{})(); }

}  // namespace kiln::simd
