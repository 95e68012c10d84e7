// Reference elementwise map: y[i] = f(x[i]), computed in double and stored in T.
#pragma once

#include <cstdint>

namespace kiln::kernels::ref {

template <class T, class F>
void unary_map(const T* x, T* y, int64_t n, F&& f) noexcept {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(f(static_cast<double>(x[i])));
}

}  // namespace kiln::kernels::ref
