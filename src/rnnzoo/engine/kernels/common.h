// Shared maths of the compiled kernels (rnnzoo/engine/kernels/*.cpp, one extension built by
// rnnzoo/engine/native.py): fast exp/sigmoid/tanh, 16-way sums, LayerNorm of a row, the elementwise
// activations and their derivatives, the products (BLAS, oneDNN's packed weights, the few-rows path) behind
// `Weight` and `product`, the gradient reaching the previous state (`state_grad`), and RNNZOO_DISPATCH,
// which picks float or double for the entry points.
//
// Everything but the macro sits in an unnamed namespace: each source gets its own copy, compiled and inlined
// exactly as when the kernels were one file.

#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

// BLAS as torch's CPU build exports it (MKL's Fortran interface in the x86 wheels). Weak: where this
// torch has no such symbol the products go through at::mm instead (one dispatch more per step).
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*) __attribute__((weak));
}

namespace {

template <typename T>
using Gemm = void (*)(const char*, const char*, const int*, const int*, const int*, const T*, const T*, const int*,
                      const T*, const int*, const T*, T*, const int*);
template <typename T> Gemm<T> blas_gemm();
template <> inline Gemm<float> blas_gemm<float>() { return sgemm_; }
template <> inline Gemm<double> blas_gemm<double>() { return dgemm_; }

// C (m, n) = A (m, k) B^T + beta C, all row-major and contiguous, B (n, k): the one product a step needs
// (pre = h W_hh^T, y = otc W_hr^T). Row-major C is column-major C^T = B A^T: BLAS gets B transposed.
template <typename T> void mm_bt(int64_t m, int64_t n, int64_t k, const T* A, const T* B, T beta, T* C) {
  if (const Gemm<T> gemm = blas_gemm<T>()) {
    const int M = static_cast<int>(n), Nn = static_cast<int>(m), K = static_cast<int>(k);
    const T one = 1;
    gemm("T", "N", &M, &Nn, &K, &one, B, &K, A, &K, &beta, C, &M);
    return;
  }
  auto o = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor c = at::from_blob(C, {m, n}, o);
  at::addmm_out(c, c, at::from_blob(const_cast<T*>(A), {m, k}, o), at::from_blob(const_cast<T*>(B), {n, k}, o).t(),
                beta, 1);
}

// exp for float that GCC vectorizes (glibc's vector expf needs -ffast-math): 2^n e^r with
// n = round(x / ln 2), |r| <= ln 2 / 2, and Cephes' expf polynomial; within 1e-7 relative of exp
// on [-87, 88]; clamped outside (so sigmoid/tanh saturate cleanly); NaN stays NaN.
inline float exp_(float x) {
  float xc = x > 88.0f ? 88.0f : (x < -87.3365447504f ? -87.3365447504f : x);
  float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float y = p * scale;
  return x != x ? x : y;
}
// The same for double (vectorized too, so that the echo state network's float64 loop is not bound by
// std::exp): n = round(x / ln 2), r = x - n ln 2 with ln 2 in two parts (fdlibm's; n ln2_hi is exact),
// e^r by its Taylor series to r^12 (remainder < 2e-16 relative for |r| <= ln 2 / 2), clamped outside
// [-708, 709]; within a few ulps of exp; NaN stays NaN.
inline double exp_(double x) {
  double xc = x > 709.0 ? 709.0 : (x < -708.0 ? -708.0 : x);
  double n = std::nearbyint(xc * 1.4426950408889634);
  double r = xc - n * 6.93147180369123816490e-01;
  r = r - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r * r + r + 1.0;
  int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  double y = p * scale;
  return x != x ? x : y;
}

template <typename T> inline T sigmoid_(T x) { return T(1) / (T(1) + exp_(-x)); }
template <typename T> inline T tanh_(T x) { return T(1) - T(2) / (T(1) + exp_(T(2) * x)); }
template <> inline double tanh_(double x) { return std::tanh(x); }

// The sum of n numbers in 16 running partial sums, so that the compiler can vectorize it (a single
// accumulator is a serial chain: IEEE addition may not be reordered without -ffast-math).
template <typename T, typename F> T sum16(int64_t n, F term) {
  T part[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) part[l] += term(j + l);
  T s = 0;
  for (; j < n; ++j) s += term(j);
  for (int l = 0; l < 16; ++l) s += part[l];
  return s;
}

// LayerNorm of one row of n numbers: out = (x - mean) rstd w + b (+ add), with mean and the reciprocal
// standard deviation (biased variance, torch's definition) written to *mean / *rstd.
template <typename T>
void layer_norm_row(const T* x, int64_t n, const T* w, const T* b, const T* add, double eps, T* out,
                    T* mean, T* rstd) {
  const T m = sum16<T>(n, [x](int64_t j) { return x[j]; }) / T(n);
  const T v = sum16<T>(n, [x, m](int64_t j) { return (x[j] - m) * (x[j] - m); }) / T(n);
  const T r = T(1) / std::sqrt(v + T(eps));
  if (add != nullptr) {
    for (int64_t j = 0; j < n; ++j) out[j] = (x[j] - m) * r * w[j] + b[j] + add[j];
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = (x[j] - m) * r * w[j] + b[j];
  }
  *mean = m;
  *rstd = r;
}

// The data of an optional tensor (`valid`'s bools too), null when it is not given.
template <typename T> const T* ptr_or_null(const c10::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t->data_ptr<T>() : nullptr;
}

// x W^T on oneDNN, W packed by torch.ops.mkldnn._reorder_linear_weight (rnnzoo.engine.linalg.Right): where
// MKL's sgemm does not use the CPU's widest vectors oneDNN is twice as fast for large products. No post-op:
// oneDNN's fused "add" of a base was slower here (118 vs 88 us at 64 x 256 x 1024, 2 threads) than adding
// the base in the loop that reads the product anyway.
inline at::Tensor onednn_mm(const at::Tensor& x, const at::Tensor& packed) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                         c10::string_view, c10::List<std::optional<at::Scalar>>,
                                         std::optional<c10::string_view>)>();
  return op.call(x, packed, std::nullopt, "none", c10::List<std::optional<at::Scalar>>(), std::nullopt);
}

// W^T (k, n) contiguous for `product`'s few-rows path, where one BLAS call per step costs more than the
// arithmetic (batch-1 inference: LSTM 4.4 -> 3.2 us per step at H = 128); undefined otherwise. Worth its
// copy of W only over many steps, and only for outputs at least a vector wide (n = W's rows).
inline at::Tensor few_rows_transpose(const at::Tensor& W, int64_t rows, int64_t steps,
                                     const c10::optional<at::Tensor>& packed) {
  const bool onednn = packed.has_value() && packed->defined();
  return rows <= 4 && steps >= 16 && W.size(0) >= 32 && !onednn ? W.t().contiguous() : at::Tensor();
}

// Rows per parallel chunk, at least torch's grain of 32768 numbers: small batches (inference) stay on one
// thread, where OpenMP's hand-offs would cost more than the loop.
inline int64_t grain(int64_t row_numbers) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_numbers)); }

// A padded step keeps the state: row n of `state` (width w) back to its previous value.
template <typename T> void hold_padded(const bool* valid_t, int64_t N, int64_t w, const T* prev, T* state) {
  if (valid_t == nullptr) return;
  for (int64_t n = 0; n < N; ++n)
    if (!valid_t[n]) std::memcpy(state + n * w, prev + n * w, w * sizeof(T));
}

// The recurrent input of the next step: the state, or state ⊙ mask with recurrent dropout.
template <typename T> const T* recurrent_input(const T* state, const T* mask, int64_t numbers, T* buf) {
  if (mask == nullptr) return state;
  for (int64_t j = 0; j < numbers; ++j) buf[j] = state[j] * mask[j];
  return buf;
}

// A weight B (n, k) as the products take it: its data for BLAS, oneDNN's packed copy when the caller
// made one (rnnzoo.engine.linalg.Right decides), and B^T for the few-rows path when that applies.
template <typename T> struct Weight {
  const T* data = nullptr;
  c10::optional<at::Tensor> packed;
  at::Tensor transposed;
  Weight() = default;
  Weight(const at::Tensor& B, const c10::optional<at::Tensor>& packed_, int64_t rows, int64_t steps)
      : data(B.defined() ? B.template data_ptr<T>() : nullptr), packed(packed_),
        transposed(B.defined() ? few_rows_transpose(B, rows, steps, packed_) : at::Tensor()) {}
};

// base + x B^T for row-major x (m, k): oneDNN's new tensor when B is packed, else into `out` (returned),
// by BLAS or, for a few rows, by axpys over B^T. base may be null (zero).
template <typename T>
at::Tensor product(int64_t m, int64_t n, int64_t k, const T* x, const Weight<T>& B, const T* base,
                   const at::Tensor& out) {
  const auto opts = out.options();
  if (B.transposed.defined()) {  // a few rows: out = base + x B^T as axpys over B^T's contiguous rows
    const T* BT = B.transposed.template data_ptr<T>();
    T* o = out.data_ptr<T>();
    for (int64_t i = 0; i < m; ++i) {
      T* oi = o + i * n;
      if (base != nullptr) {
        std::memcpy(oi, base + i * n, n * sizeof(T));
      } else {
        std::memset(oi, 0, n * sizeof(T));
      }
      for (int64_t kk = 0; kk < k; ++kk) {
        const T a = x[i * k + kk];
        const T* w = BT + kk * n;
        for (int64_t j = 0; j < n; ++j) oi[j] += a * w[j];
      }
    }
    return out;
  }
  if (B.packed.has_value() && B.packed->defined()) {
    at::Tensor y = onednn_mm(at::from_blob(const_cast<T*>(x), {m, k}, opts), *B.packed);
    if (base != nullptr) {
      T* o = y.data_ptr<T>();
      for (int64_t j = 0; j < m * n; ++j) o[j] += base[j];
    }
    return y;
  }
  T* o = out.data_ptr<T>();
  if (base != nullptr) std::memcpy(o, base, m * n * sizeof(T));
  mm_bt<T>(m, n, k, x, B.data, T(base != nullptr ? 1 : 0), o);
  return out;
}

// The gradient reaching the previous state, rnnzoo/engine/common.py's `state_grad`: g (N, w) = mask ⊙ (dx W)
// + dy_prev, plus dh on the rows whose step was padded, since a padded step held the state and passes its
// gradient through. dx (N, k); WT: W^T as `product` takes it; dy_prev: the output gradient of the step before
// (null at t = 0); mask: recurrent dropout's (N, w) (null without); valid_t: this step's row of `valid` (null
// when nothing is padded). Into `out`, or a new tensor when the product runs on oneDNN; returned.
template <typename T>
inline at::Tensor state_grad(int64_t N, int64_t w, int64_t k, const T* dx, const Weight<T>& WT, const T* dy_prev,
                             const T* mask, const bool* valid_t, const T* dh, const at::Tensor& out) {
  at::Tensor g = product<T>(N, w, k, dx, WT, mask == nullptr ? dy_prev : nullptr, out);
  T* g_ = g.data_ptr<T>();
  if (mask != nullptr) {
    for (int64_t j = 0; j < N * w; ++j) g_[j] = g_[j] * mask[j] + (dy_prev != nullptr ? dy_prev[j] : T(0));
  }
  if (valid_t != nullptr) {
    for (int64_t n = 0; n < N; ++n)
      if (!valid_t[n])
        for (int64_t j = 0; j < w; ++j) g_[n * w + j] += dh[n * w + j];
  }
  return g;
}

// --- Activations (Elman, Jordan, CTRNN) ----------------------------------------------------------
enum Act { kTanh = 0, kSigmoid = 1, kRelu = 2, kIdentity = 3 };

// out[j] = act(x[j] + add[j]) (add may be null), one loop per activation so that each vectorizes.
template <typename T> void activate_row(int act, int64_t n, const T* x, const T* add, T* out) {
  auto loop = [&](auto f) {
    if (add != nullptr) {
      for (int64_t j = 0; j < n; ++j) out[j] = f(x[j] + add[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] = f(x[j]);
    }
  };
  switch (act) {
    case kTanh: loop([](T v) { return tanh_(v); }); break;
    case kSigmoid: loop([](T v) { return sigmoid_(v); }); break;
    case kRelu: loop([](T v) { return v > T(0) ? v : T(0); }); break;
    default: loop([](T v) { return v; }); break;
  }
}

// act'(v) from y = act(v), in rnnzoo.engine.ACTIVATIONS' order (rnnzoo.engine.activation_grad).
template <typename T> inline T act_grad_(int act, T y) {
  switch (act) {
    case kTanh: return T(1) - y * y;
    case kSigmoid: return y - y * y;
    case kRelu: return y > T(0) ? T(1) : T(0);
    default: return T(1);
  }
}

// out[j] = g[j] act'(y[j]), act' from the activation's output y; one loop per activation so that each vectorizes.
template <typename T> void mul_act_grad_row(int act, int64_t n, const T* g, const T* y, T* out) {
  switch (act) {
    case kTanh: for (int64_t j = 0; j < n; ++j) out[j] = g[j] * (T(1) - y[j] * y[j]); break;
    case kSigmoid: for (int64_t j = 0; j < n; ++j) out[j] = g[j] * (y[j] - y[j] * y[j]); break;
    case kRelu: for (int64_t j = 0; j < n; ++j) out[j] = y[j] > T(0) ? g[j] : T(0); break;
    default: std::memcpy(out, g, n * sizeof(T));
  }
}
}  // namespace

// The body of an entry point: `tensor` checked ((L, N, F), contiguous, CPU), then __VA_ARGS__ (which names T)
// run with T = double or float as its dtype says, without autograd.
#define RNNZOO_DISPATCH(tensor, name, ...)                                                               \
  [&] {                                                                                                \
    TORCH_CHECK((tensor).dim() == 3 && (tensor).is_contiguous() && (tensor).device().is_cpu(), name,   \
                ": expected a contiguous CPU (L, N, F) tensor");                                        \
    at::NoGradGuard no_grad;                                                                           \
    if ((tensor).scalar_type() == at::kDouble) {                                                       \
      using T = double;                                                                                \
      return __VA_ARGS__;                                                                              \
    }                                                                                                  \
    TORCH_CHECK((tensor).scalar_type() == at::kFloat, name, ": expected float32 or float64, got ",      \
                (tensor).scalar_type());                                                               \
    using T = float;                                                                                   \
    return __VA_ARGS__;                                                                                \
  }()
