// The minimal gated cells' linear scan (minGRU, minLSTM; rnnzoo/engine/scan.py): h_t = (1 - w_t) h_{t-1} + w_t h̃_t
// with w_t and h̃_t from x_t alone. Every unit is its own recurrence, so the work splits over the batch rows
// (split_rows) with no barrier per step, and one pass computes the gates, the state and (backward) every
// gradient in registers: the Python scan's dozen passes over (L, N, H) tensors become one.
// kind 0 = minGRU (xp blocks z, h), 1 = minLSTM (xp blocks f, i, h); cells/minimal.py has the equations.

#include <thread>

#include "common.h"
#include "kernels.h"

namespace {

// Runs body(n0, n1) over [0, N) split across at::get_num_threads() threads. These sources are compiled
// without OpenMP, where at::parallel_for runs serially; the units' recurrences are independent, so plain
// threads (one start per call of a whole sequence, microseconds) split the batch rows. Small calls (under
// 2^16 numbers in all) stay on this thread.
template <typename F> void split_rows(int64_t N, int64_t work, const F& body) {
  const int64_t threads = std::min<int64_t>(std::max<int64_t>(1, at::get_num_threads()), N);
  if (threads <= 1 || work < (1 << 16)) {
    body(0, N);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t per = (N + threads - 1) / threads;
  for (int64_t k = 1; k < threads && k * per < N; ++k)
    pool.emplace_back([&, k] { body(k * per, std::min(N, (k + 1) * per)); });
  body(0, std::min(N, per));
  for (auto& thread : pool) thread.join();
}

// Each loop below runs over the H units of one row with no branch the compiler cannot turn into a blend, so
// that GCC vectorizes it (exp_ is the vectorizable exp of common.h): both sides of g's choice are computed.
template <typename T> inline T g_(T v) {
  const T s = sigmoid_(v);
  return v >= T(0) ? v + T(0.5) : s;
}

// One row of the forward: y = w h̃ + (1 - w) h (b + a h, as the Python scan's addcmul).
template <typename T>
void forward_row(int64_t kind, int64_t H, const T* __restrict__ x, const T* __restrict__ h, T* __restrict__ y) {
  if (kind == 0) {
    for (int64_t j = 0; j < H; ++j) {
      const T w = sigmoid_(x[j]), c = g_(x[H + j]);
      y[j] = w * c + (T(1) - w) * h[j];
    }
  } else {
    const T tiny = std::numeric_limits<T>::min();
    for (int64_t j = 0; j < H; ++j) {
      const T f = sigmoid_(x[j]), i = sigmoid_(x[H + j]), c = g_(x[2 * H + j]);
      const T s = f + i < tiny ? tiny : f + i;  // as MinLSTMCell.mix
      const T w = i / s;
      y[j] = w * c + (T(1) - w) * h[j];
    }
  }
}

// One row of the backward: g = dy + a_next g_next, then the gates' gradients into dx; g_next, a_next updated.
template <typename T>
void backward_row(int64_t kind, int64_t H, const T* __restrict__ x, const T* __restrict__ h, const T* __restrict__ dy,
                  T* __restrict__ gn, T* __restrict__ an, T* __restrict__ dx) {
  if (kind == 0) {
    for (int64_t j = 0; j < H; ++j) {
      const T w = sigmoid_(x[j]), v = x[H + j], c = g_(v);
      const T g = dy[j] + an[j] * gn[j];
      const T dcand = g * w, s = g * (c - h[j]) * w * (T(1) - w);
      dx[j] = s;
      dx[H + j] = v > T(0) ? dcand : dcand * c * (T(1) - c);  // g'(v): 1, or σ'(v) = h̃ (1 - h̃)
      gn[j] = g;
      an[j] = T(1) - w;
    }
  } else {
    const T tiny = std::numeric_limits<T>::min();
    for (int64_t j = 0; j < H; ++j) {
      const T f = sigmoid_(x[j]), i = sigmoid_(x[H + j]), v = x[2 * H + j], c = g_(v);
      const T sum = f + i < tiny ? tiny : f + i;
      const T w = i / sum;
      const T g = dy[j] + an[j] * gn[j];
      const T dcand = g * w, s = g * (c - h[j]) * w * (T(1) - w);
      dx[j] = -s * (T(1) - f);  // w = i / (f + i): dw/dk_f = -w (1 - w) (1 - f), dw/dk_i = w (1 - w) (1 - i)
      dx[H + j] = s * (T(1) - i);
      dx[2 * H + j] = v > T(0) ? dcand : dcand * c * (T(1) - c);
      gn[j] = g;
      an[j] = T(1) - w;
    }
  }
}

template <typename T>
at::Tensor scan_forward_impl(const at::Tensor& xp, const at::Tensor& h0, const OptTensor& valid, int64_t kind) {
  const int64_t L = xp.size(0), N = xp.size(1), K = xp.size(2), H = h0.size(-1);
  at::Tensor Y = at::empty({L, N, H}, xp.options());
  const T *xp_ = xp.data_ptr<T>(), *h0_ = h0.data_ptr<T>();
  const bool* valid_ = ptr_or_null<bool>(valid);
  T* Y_ = Y.data_ptr<T>();
  split_rows(N, L * N * H, [&](int64_t n0, int64_t n1) {
    for (int64_t t = 0; t < L; ++t) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* h = t == 0 ? h0_ + n * H : Y_ + ((t - 1) * N + n) * H;
        T* y = Y_ + (t * N + n) * H;
        if (valid_ && !valid_[t * N + n])  // a padded step keeps the state
          std::memcpy(y, h, H * sizeof(T));
        else
          forward_row<T>(kind, H, xp_ + (t * N + n) * K, h, y);
      }
    }
  });
  return Y;
}

template <typename T>
std::vector<at::Tensor> scan_backward_impl(const at::Tensor& dY, const at::Tensor& xp, const at::Tensor& h0,
                                           const at::Tensor& Y, const OptTensor& valid, int64_t kind) {
  const int64_t L = xp.size(0), N = xp.size(1), K = xp.size(2), H = h0.size(-1);
  at::Tensor dXP = at::empty({L, N, K}, xp.options()), dh0 = at::empty({N, H}, xp.options());
  const T *dY_ = dY.data_ptr<T>(), *xp_ = xp.data_ptr<T>(), *h0_ = h0.data_ptr<T>(), *Y_ = Y.data_ptr<T>();
  const bool* valid_ = ptr_or_null<bool>(valid);
  T *dXP_ = dXP.data_ptr<T>(), *dh0_ = dh0.data_ptr<T>();
  split_rows(N, L * N * H, [&](int64_t n0, int64_t n1) {
    // per unit: g_next = dL/dh_{t+1} and a_next = 1 - w_{t+1}; their product is what step t+1 passes back
    std::vector<T> g_next((n1 - n0) * H, T(0)), a_next((n1 - n0) * H, T(0));
    for (int64_t t = L - 1; t >= 0; --t) {
      for (int64_t n = n0; n < n1; ++n) {
        T *gn = g_next.data() + (n - n0) * H, *an = a_next.data() + (n - n0) * H;
        const T* dy = dY_ + (t * N + n) * H;
        T* dx = dXP_ + (t * N + n) * K;
        if (valid_ && !valid_[t * N + n]) {  // w = 0: the gradient passes through, the gates get none
          for (int64_t j = 0; j < H; ++j) {
            gn[j] = dy[j] + an[j] * gn[j];
            an[j] = T(1);
          }
          std::memset(dx, 0, K * sizeof(T));
          continue;
        }
        const T* h = t == 0 ? h0_ + n * H : Y_ + ((t - 1) * N + n) * H;
        backward_row<T>(kind, H, xp_ + (t * N + n) * K, h, dy, gn, an, dx);
      }
    }
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t j = 0; j < H; ++j)
        dh0_[n * H + j] = a_next[(n - n0) * H + j] * g_next[(n - n0) * H + j];  // (1 - w_0) g_0
  });
  return {dXP, dh0};
}

}  // namespace

at::Tensor scan_forward(const at::Tensor& xp, const at::Tensor& h0, const OptTensor& valid, int64_t kind) {
  return RNNZOO_DISPATCH(xp, "xp", scan_forward_impl<T>(xp, h0, valid, kind));
}

std::vector<at::Tensor> scan_backward(const at::Tensor& dY, const at::Tensor& xp, const at::Tensor& h0,
                                      const at::Tensor& Y, const OptTensor& valid, int64_t kind) {
  return RNNZOO_DISPATCH(xp, "xp", scan_backward_impl<T>(dY, xp, h0, Y, valid, kind));
}
