// Reference elementwise map: y[i] = f(x[i]). `f` receives and returns values
// in the tensor's element type; callers that want more precision convert inside f.
#pragma once

#include <cstdint>

namespace kiln::kernels::ref {

template <class T, class U, class F>
void unary_map(const T* x, U* y, int64_t n, const F& f) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<U>(f(x[i]));
}

}  // namespace kiln::kernels::ref
