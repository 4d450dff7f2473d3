// Optional compiled kernels for rnnzoo's sequence engines (and, at the end, the echo state network's loops).
// rnnzoo/engine/native.py builds this file with torch's C++ extension tools on the user's machine (nothing is
// compiled at pip install time);
// without a compiler the pure-Python engines run instead. Equations and buffer layouts are those of
// the Python engines (rnnzoo/engine/lstm.py's `_forward`, lstm_backward.py's loop, elman.py and
// jordan.py's `_forward`), which stay the reference: tests/test_native.py checks that the two agree
// and gradchecks training through these loops.
//
// Why it is faster: the Python engine runs 8-13 ATen kernels per time step, each a trip through the
// dispatcher (and a pass over memory); at batch 1 that overhead is the whole cost. Here a step is one
// matrix product (ATen, so MKL/oneDNN) and one fused loop over the gate row.

#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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
template <> Gemm<float> blas_gemm<float>() { return sgemm_; }
template <> Gemm<double> blas_gemm<double>() { return dgemm_; }

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

template <typename T> const T* ptr_or_null(const c10::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t->data_ptr<T>() : nullptr;
}

// x W^T on oneDNN, W packed by torch.ops.mkldnn._reorder_linear_weight (rnnzoo.engine.linalg.Right): where
// MKL's sgemm does not use the CPU's widest vectors oneDNN is twice as fast for large products. No post-op:
// oneDNN's fused "add" of a base was slower here (118 vs 88 us at 64 x 256 x 1024, 2 threads) than adding
// the base in the loop that reads the product anyway.
at::Tensor onednn_mm(const at::Tensor& x, const at::Tensor& packed) {
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
int64_t grain(int64_t row_numbers) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_numbers)); }

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


template <typename T>
std::vector<at::Tensor> lstm_forward_impl(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                          const at::Tensor& W, const c10::optional<at::Tensor>& Wr,
                                          const c10::optional<at::Tensor>& peep,
                                          const c10::optional<at::Tensor>& lnh_w,
                                          const c10::optional<at::Tensor>& lnh_b,
                                          const c10::optional<at::Tensor>& lnc_w,
                                          const c10::optional<at::Tensor>& lnc_b,
                                          const c10::optional<at::Tensor>& mask,
                                          const c10::optional<at::Tensor>& valid, bool coupled, double eps_h,
                                          double eps_c, bool keep, const c10::optional<at::Tensor>& W_packed,
                                          const c10::optional<at::Tensor>& Wr_packed) {
  const int64_t L = xp.size(0), N = xp.size(1), GH = xp.size(2);
  const int64_t H = c0.size(-1), P = h0.size(-1);
  const int64_t k = GH / H - 2;  // sigmoid gates before g: 2 (i, f) or 1 (f, coupled)
  const bool has_proj = Wr.has_value() && Wr->defined();
  const bool ln_h = lnh_w.has_value() && lnh_w->defined();
  const bool ln_c = lnc_w.has_value() && lnc_w->defined();
  const int64_t steps = keep ? L : 1;
  auto opts = xp.options();
  at::Tensor Y = at::empty({L, N, P}, opts);
  at::Tensor A = at::empty({steps, N, GH}, opts);
  at::Tensor Tc = at::empty({steps, N, H}, opts);
  at::Tensor C = at::empty({keep ? L : 2, N, H}, opts);
  at::Tensor MH, SH, MC, SC;
  if (keep && ln_h) { MH = at::empty({L, N, 1}, opts); SH = at::empty({L, N, 1}, opts); }
  if (keep && ln_c) { MC = at::empty({L, N, 1}, opts); SC = at::empty({L, N, 1}, opts); }
  at::Tensor pre = at::empty({N, GH}, opts);
  at::Tensor hr = at::empty({N, P}, opts);  // h ⊙ mask with recurrent dropout
  at::Tensor otc = has_proj ? at::empty({N, H}, opts) : at::Tensor();
  at::Tensor stats = at::empty({4, N}, opts);  // LayerNorm mean/rstd of one step when not kept

  const T* xp_ = xp.data_ptr<T>();
  const Weight<T> Wh(W, W_packed, N, L), Whr(has_proj ? *Wr : at::Tensor(), Wr_packed, N, L);
  const T* pp = ptr_or_null<T>(peep);
  const T *lhw = ptr_or_null<T>(lnh_w), *lhb = ptr_or_null<T>(lnh_b);
  const T *lcw = ptr_or_null<T>(lnc_w), *lcb = ptr_or_null<T>(lnc_b);
  const T* mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = valid.has_value() && valid->defined() ? valid->data_ptr<bool>() : nullptr;
  T* hr_ = hr.data_ptr<T>();
  T* otc_ = has_proj ? otc.data_ptr<T>() : nullptr;
  T *Y_ = Y.data_ptr<T>(), *A_ = A.data_ptr<T>(), *T_ = Tc.data_ptr<T>(), *C_ = C.data_ptr<T>();
  T* st_ = stats.data_ptr<T>();

  const T* hp_ = h0.data_ptr<T>();  // the previous step's h and c
  const T* cp_ = c0.data_ptr<T>();
  for (int64_t t = 0; t < L; ++t) {
    const T* hin = recurrent_input(hp_, mask_, N * P, hr_);
    // pre (N, G*H) = h_rec W_hh^T; xp[t] is added in the gate loop (after LN_h with layer_norm)
    const at::Tensor pre_t = product<T>(N, GH, P, hin, Wh, nullptr, pre);
    T* pre_ = pre_t.data_ptr<T>();
    T* a_ = A_ + (keep ? t : 0) * N * GH;
    T* tc_ = T_ + (keep ? t : 0) * N * H;
    T* cn_ = C_ + (keep ? t : (t & 1)) * N * H;
    T* y_ = Y_ + t * N * P;
    T* mh = keep && ln_h ? MH.data_ptr<T>() + t * N : st_;
    T* sh = keep && ln_h ? SH.data_ptr<T>() + t * N : st_ + N;
    T* mc = keep && ln_c ? MC.data_ptr<T>() + t * N : st_ + 2 * N;
    T* sc = keep && ln_c ? SC.data_ptr<T>() + t * N : st_ + 3 * N;
    at::parallel_for(0, N, grain(GH), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        T* p = pre_ + n * GH;
        T* a = a_ + n * GH;
        const T* cp = cp_ + n * H;
        T* cn = cn_ + n * H;
        T* tc = tc_ + n * H;
        const T* xr = xp_ + (t * N + n) * GH;
        if (ln_h) {
          layer_norm_row<T>(p, GH, lhw, lhb, xr, eps_h, p, mh + n, sh + n);
        } else {
          for (int64_t j = 0; j < GH; ++j) p[j] += xr[j];
        }
        if (pp != nullptr) {  // peepholes into the c-driven sigmoid gates: + w ⊙ c_prev
          for (int64_t j = 0; j < k; ++j) {
            const T* w = pp + (2 - k + j) * H;
            T* q = p + j * H;
            for (int64_t u = 0; u < H; ++u) q[u] += w[u] * cp[u];
          }
        }
        const int64_t ns = pp != nullptr ? (k + 1) * H : GH;  // o waits for c_t with peepholes
        for (int64_t j = 0; j < ns; ++j) a[j] = sigmoid_(p[j]);
        T* g = a + k * H;
        for (int64_t u = 0; u < H; ++u) g[u] = T(2) * g[u] - T(1);  // tanh of the halved pre-activation
        const T* f = a + (k - 1) * H;
        if (coupled) {
          for (int64_t u = 0; u < H; ++u) cn[u] = g[u] + f[u] * (cp[u] - g[u]);
        } else {
          for (int64_t u = 0; u < H; ++u) cn[u] = f[u] * cp[u] + a[u] * g[u];
        }
        const bool held = valid_ != nullptr && !valid_[t * N + n];  // a padded step keeps the state
        if (held) std::memcpy(cn, cp, H * sizeof(T));
        T* o = a + (k + 1) * H;
        if (pp != nullptr) {
          const T* w = pp + 2 * H;
          const T* q = p + (k + 1) * H;
          for (int64_t u = 0; u < H; ++u) o[u] = sigmoid_(q[u] + w[u] * cn[u]);
        }
        if (ln_c) {
          layer_norm_row<T>(cn, H, lcw, lcb, nullptr, eps_c, tc, mc + n, sc + n);
          for (int64_t u = 0; u < H; ++u) tc[u] = tanh_(tc[u]);
        } else {
          for (int64_t u = 0; u < H; ++u) tc[u] = tanh_(cn[u]);
        }
        T* out = has_proj ? otc_ + n * H : y_ + n * P;  // o ⊙ tanh(c), projected below with proj_size
        if (held && !has_proj) {
          std::memcpy(out, hp_ + n * P, P * sizeof(T));
        } else {
          for (int64_t u = 0; u < H; ++u) out[u] = o[u] * tc[u];
        }
      }
    });
    if (has_proj) {  // y (N, P) = otc W_hr^T
      at::Tensor yt = at::from_blob(y_, {N, P}, opts);
      at::Tensor r = product<T>(N, P, H, otc_, Whr, nullptr, yt);
      if (!r.is_same(yt)) yt.copy_(r);
      hold_padded<T>(valid_ ? valid_ + t * N : nullptr, N, P, hp_, y_);
    }
    hp_ = y_;
    cp_ = cn_;
  }
  at::Tensor c = keep ? C[L - 1] : C[(L - 1) & 1];
  return {Y, C, A, Tc, c, MH, SH, MC, SC};
}


// LayerNorm's input gradient for one row: dx = rstd (g - mean(g) - x̂ mean(g x̂)), g = w ⊙ dy,
// x̂ = (x - mean) rstd; added to dx (or written to it with add = false).
template <typename T>
void layer_norm_backward_row(int64_t n, const T* dy, const T* x, T mean, T rstd, const T* w, T* dx, bool add) {
  const T mg = sum16<T>(n, [=](int64_t j) { return w[j] * dy[j]; }) / T(n);
  const T mgx = sum16<T>(n, [=](int64_t j) { return w[j] * dy[j] * (x[j] - mean) * rstd; }) / T(n);
  for (int64_t j = 0; j < n; ++j) {
    const T v = rstd * (w[j] * dy[j] - mg - (x[j] - mean) * rstd * mgx);
    dx[j] = add ? dx[j] + v : v;
  }
}

// One row of the gate gradients at one step (rnnzoo/engine/lstm_backward.py's factors, in the loop):
// dG[o] = du K_o, dc += du K_c (through LN_c's backward with layer_norm, whose output gradient goes to
// dcn), dG[i, f, g] = dc K_[i,f,g], dc *= F. Templated on the options so that the loops have no
// branches and vectorize.
template <typename T, bool PEEP, bool COUPLED, bool LNC>
void gate_grad_row(int64_t H, int64_t k, const T* a, const T* tc, const T* cp, const T* du, const T* pp, T* dg, T* dc,
                   const T* cn, T mc, T rc, const T* lncw, T* dcn) {
  const T *i = a, *f = a + (k - 1) * H, *g = a + k * H, *o = a + (k + 1) * H;
  T *dgi = dg, *dgf = dg + (k - 1) * H, *dgg = dg + k * H, *dgo = dg + (k + 1) * H;
  for (int64_t u = 0; u < H; ++u) {
    const T ko = o[u] * (T(1) - o[u]) * tc[u];  // ∂h/∂o_pre
    dgo[u] = du[u] * ko;
    const T kc = (T(1) - tc[u] * tc[u]) * o[u];  // ∂h/∂c through tanh(c) (or tanh(LN_c(c)))
    const T kop = PEEP ? ko * pp[2 * H + u] : T(0);  // and through o's peephole
    if (LNC) {
      dcn[u] = du[u] * kc;
      dc[u] += du[u] * kop;
    } else {
      dc[u] += du[u] * (kc + kop);
    }
  }
  if (LNC) layer_norm_backward_row<T>(H, dcn, cn, mc, rc, lncw, dc, true);
  for (int64_t u = 0; u < H; ++u) {
    const T d = dc[u];
    const T kf = f[u] * (T(1) - f[u]) * (COUPLED ? cp[u] - g[u] : cp[u]);
    dgf[u] = d * kf;
    // tanh'(g_pre) = 1 - g², halved for the doubled pre-activation
    dgg[u] = d * (T(1) - g[u] * g[u]) * (COUPLED ? T(1) - f[u] : i[u]) * T(0.5);
    T fm = f[u];
    if (PEEP) fm += kf * pp[H + u];
    if (!COUPLED) {
      const T ki = i[u] * (T(1) - i[u]) * g[u];
      dgi[u] = d * ki;
      if (PEEP) fm += ki * pp[u];
    }
    dc[u] = d * fm;
  }
}

template <typename T>
using GateGradRow = void (*)(int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, T*, T*, const T*, T,
                             T, const T*, T*);

template <typename T, bool LNC> GateGradRow<T> gate_grad_row_for(bool peep, bool coupled) {
  if (peep) return coupled ? gate_grad_row<T, true, true, LNC> : gate_grad_row<T, true, false, LNC>;
  return coupled ? gate_grad_row<T, false, true, LNC> : gate_grad_row<T, false, false, LNC>;
}

// dst[j * ld + i] = src[i * cols + j]: a row-major (rows, cols) block written transposed into a matrix of
// leading dimension ld, in 16 x 16 tiles (cache lines of both sides reused), column tiles in parallel.
template <typename T> void transpose_into(const T* src, int64_t rows, int64_t cols, T* dst, int64_t ld) {
  at::parallel_for(0, (cols + 15) / 16, grain(rows * 16), [&](int64_t b0, int64_t b1) {
    for (int64_t jb = b0; jb < b1; ++jb) {
      const int64_t j0 = jb * 16, j1 = std::min(cols, j0 + 16);
      for (int64_t i0 = 0; i0 < rows; i0 += 16) {
        const int64_t i1 = std::min(rows, i0 + 16);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = i0; i < i1; ++i) dst[j * ld + i] = src[i * cols + j];
      }
    }
  });
}

// What the backward needs with layer_norm (undefined tensors without it): LN_h's weight, mean and rstd per
// row and the forward's W_hh (G*H, P) (packed for a chunk's rows), to recompute W_hh h_rec `chunk` steps at
// a time from the outputs Y; LN_c's weight, mean and rstd.
struct LayerNormGrad {
  at::Tensor lnh_w, MH, SH, W, lnc_w, MC, SC;
  c10::optional<at::Tensor> W_packed;
  int64_t chunk = 1;
};

template <typename T>
std::vector<at::Tensor> lstm_backward_impl(const at::Tensor& dY, const at::Tensor& dhT, const at::Tensor& dcT,
                                           const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& Y,
                                           const at::Tensor& A, const at::Tensor& Tc,
                                           const at::Tensor& C, const at::Tensor& WT,
                                           const c10::optional<at::Tensor>& WrT,
                                           const c10::optional<at::Tensor>& peep,
                                           const c10::optional<at::Tensor>& mask,
                                           const c10::optional<at::Tensor>& valid, bool coupled,
                                           const c10::optional<at::Tensor>& WT_packed,
                                           const c10::optional<at::Tensor>& WrT_packed, const LayerNormGrad& ln,
                                           bool dG_transposed) {
  const int64_t L = A.size(0), N = A.size(1), GH = A.size(2), H = C.size(2), P = dY.size(2);
  const int64_t k = GH / H - 2;
  const bool has_proj = WrT.has_value() && WrT->defined();
  auto opts = A.options();
  // dG_transposed: dG laid out as the transpose of a contiguous (G*H, L*N) matrix, the layout the weight
  // gradients' products take on oneDNN (rnnzoo.engine.linalg.gram_layout), each step's rows written there from
  // a scratch block instead of one transposing copy of all of dG afterwards
  at::Tensor dG = dG_transposed ? at::empty({GH, L * N}, opts) : at::empty({L, N, GH}, opts);
  at::Tensor dg_step = dG_transposed ? at::empty({N, GH}, opts) : at::Tensor();
  at::Tensor DH = has_proj ? at::empty({L, N, P}, opts) : at::Tensor();  // each step's dh, for dW_hr
  at::Tensor dh = dY[L - 1] + dhT;
  at::Tensor dc = dcT.clone(at::MemoryFormat::Contiguous);
  at::Tensor dh_buf = at::empty({N, P}, opts), du_buf = has_proj ? at::empty({N, H}, opts) : at::Tensor();
  at::Tensor spare = at::empty({N, P}, opts);
  T* dc_ = dc.data_ptr<T>();
  const T *dY_ = dY.data_ptr<T>(), *A_ = A.data_ptr<T>(), *T_ = Tc.data_ptr<T>();
  const T *c0_ = c0.data_ptr<T>(), *h0_ = h0.data_ptr<T>(), *Y_ = Y.data_ptr<T>();
  // dh = dG W_hh = dG (W_hh^T)^T, du = dh W_hr; with layer_norm R = h_rec W_hh^T (steps = 0: no few-rows path)
  const Weight<T> Wt(WT, WT_packed, N, 0), Wrt(has_proj ? *WrT : at::Tensor(), WrT_packed, N, 0);
  const Weight<T> Wh(ln.W, ln.W_packed, N, 0);
  const T* pp = ptr_or_null<T>(peep);
  const T* mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = valid.has_value() && valid->defined() ? valid->data_ptr<bool>() : nullptr;
  const bool ln_h = ln.lnh_w.defined(), ln_c = ln.lnc_w.defined();
  const GateGradRow<T> row_grad = ln_c ? gate_grad_row_for<T, true>(pp != nullptr, coupled)
                                        : gate_grad_row_for<T, false>(pp != nullptr, coupled);
  // layer_norm: R, W_hh h_rec recomputed a chunk of steps at a time (one product) from the chunk's h_rec
  // (Hc: the previous outputs, ⊙ mask), and dR, its gradient, whose share of dW_hh is added at the end of
  // each chunk (one product), so none of them spans the sequence. The weight gradients of ln_h and ln_c
  // are summed here, one running sum per thread (rows run in parallel), added up at the end.
  at::Tensor dW = ln_h ? at::zeros({GH, P}, opts) : at::Tensor();
  at::Tensor dlnh_w_parts = ln_h ? at::zeros({at::get_num_threads(), GH}, opts) : at::Tensor();
  at::Tensor dlnc_parts = ln_c ? at::zeros({at::get_num_threads(), 2 * H}, opts) : at::Tensor();  // w, b
  // the peephole weights' gradient: Σ dG_i ⊙ c_prev, Σ dG_f ⊙ c_prev, Σ dG_o ⊙ c (i stays 0 when coupled)
  at::Tensor dpeep_parts = pp != nullptr ? at::zeros({at::get_num_threads(), 3 * H}, opts) : at::Tensor();
  at::Tensor dcn_buf = ln_c ? at::empty({N, H}, opts) : at::Tensor();
  const int64_t chunk = ln_h ? std::max<int64_t>(1, std::min<int64_t>(L, ln.chunk)) : 1;
  at::Tensor R_buf = ln_h ? at::empty({chunk * N, GH}, opts) : at::Tensor(), R;
  at::Tensor dR = ln_h ? at::empty({chunk * N, GH}, opts) : at::Tensor();
  at::Tensor Hc = ln_h ? at::empty({chunk * N, P}, opts) : at::Tensor();
  const T *C_ = C.data_ptr<T>(), *lncw = ln_c ? ln.lnc_w.data_ptr<T>() : nullptr;
  const T *MC = ln_c ? ln.MC.data_ptr<T>() : nullptr, *SC = ln_c ? ln.SC.data_ptr<T>() : nullptr;
  const T *lnhw = ln_h ? ln.lnh_w.data_ptr<T>() : nullptr, *MH = ln_h ? ln.MH.data_ptr<T>() : nullptr;
  const T* SH = ln_h ? ln.SH.data_ptr<T>() : nullptr;
  int64_t r0 = L;  // first step of the chunk R holds
  for (int64_t t = L - 1; t >= 0; --t) {
    if (ln_h && t < r0) {
      r0 = std::max<int64_t>(0, t + 1 - chunk);
      T* hc = Hc.data_ptr<T>();
      for (int64_t s = r0; s <= t; ++s) {  // h_rec of step s: the previous output (h_0 first), ⊙ mask
        T* dst = hc + (s - r0) * N * P;
        const T* src = s > 0 ? Y_ + (s - 1) * N * P : h0_;
        if (mask_ == nullptr) {
          std::memcpy(dst, src, N * P * sizeof(T));
        } else {
          for (int64_t j = 0; j < N * P; ++j) dst[j] = src[j] * mask_[j];
        }
      }
      R = product<T>((t + 1 - r0) * N, GH, P, hc, Wh, nullptr, R_buf.narrow(0, 0, (t + 1 - r0) * N));
    }
    const T* cprev_ = t > 0 ? C_ + (t - 1) * N * H : c0_;
    const T* dh_ = dh.data_ptr<T>();
    at::Tensor du = dh;
    if (has_proj) {  // h = (o ⊙ tanh c) W_hr^T: du = dh W_hr
      std::memcpy(DH.data_ptr<T>() + t * N * P, dh_, N * P * sizeof(T));
      du = product<T>(N, H, P, dh_, Wrt, nullptr, du_buf);
    }
    const T* du_ = du.data_ptr<T>();
    T* dgt = dG_transposed ? dg_step.data_ptr<T>() : dG.data_ptr<T>() + t * N * GH;
    T* dcn = ln_c ? dcn_buf.data_ptr<T>() : nullptr;
    at::parallel_for(0, N, grain(GH), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const int64_t row = t * N + n;
        if (valid_ != nullptr && !valid_[row]) {  // a padded step held the state: no gate gradient
          std::memset(dgt + n * GH, 0, GH * sizeof(T));
          if (ln_h) std::memset(dR.data_ptr<T>() + ((t - r0) * N + n) * GH, 0, GH * sizeof(T));
          continue;
        }
        const T* cn = C_ + row * H;
        row_grad(H, k, A_ + row * GH, T_ + row * H, cprev_ + n * H, du_ + n * H, pp, dgt + n * GH, dc_ + n * H,
                 cn, ln_c ? MC[row] : T(0), ln_c ? SC[row] : T(0), lncw, ln_c ? dcn + n * H : nullptr);
        if (pp != nullptr) {
          T* acc = dpeep_parts.data_ptr<T>() + at::get_thread_num() * 3 * H;
          const T *dg = dgt + n * GH, *cp = cprev_ + n * H;
          if (!coupled)
            for (int64_t u = 0; u < H; ++u) acc[u] += dg[u] * cp[u];
          for (int64_t u = 0; u < H; ++u) acc[H + u] += dg[(k - 1) * H + u] * cp[u];
          for (int64_t u = 0; u < H; ++u) acc[2 * H + u] += dg[(k + 1) * H + u] * cn[u];
        }
        if (ln_c) {  // LN_c's weight gradients: Σ dcn ⊙ ĉ and Σ dcn
          T* acc = dlnc_parts.data_ptr<T>() + at::get_thread_num() * 2 * H;
          const T *d = dcn + n * H, m = MC[row], rs = SC[row];
          for (int64_t u = 0; u < H; ++u) {
            acc[u] += d[u] * (cn[u] - m) * rs;
            acc[H + u] += d[u];
          }
        }
        if (ln_h) {  // the gate pre-activations were LN_h(W_hh h_rec) + xp: back through LN_h
          const T* r = R.data_ptr<T>() + ((t - r0) * N + n) * GH;
          const T *dg = dgt + n * GH, m = MH[row], rs = SH[row];
          T* acc = dlnh_w_parts.data_ptr<T>() + at::get_thread_num() * GH;
          for (int64_t j = 0; j < GH; ++j) acc[j] += dg[j] * (r[j] - m) * rs;
          layer_norm_backward_row<T>(GH, dg, r, m, rs, lnhw, dR.data_ptr<T>() + ((t - r0) * N + n) * GH, false);
        }
      }
    });
    if (dG_transposed) transpose_into<T>(dgt, N, GH, dG.data_ptr<T>() + t * N, L * N);
    // dh_prev = mask ⊙ (dR_t W_hh) + dy_{t-1}, plus dh where the step was padded (dR = dG without ln_h)
    const T* prev_dy = t > 0 ? dY_ + (t - 1) * N * P : nullptr;
    const T* drec = ln_h ? dR.data_ptr<T>() + (t - r0) * N * GH : dgt;
    at::Tensor dh_new = product<T>(N, P, GH, drec, Wt, mask_ == nullptr ? prev_dy : nullptr, dh_buf);
    T* dhn_ = dh_new.data_ptr<T>();
    if (mask_ != nullptr) {
      for (int64_t j = 0; j < N * P; ++j) dhn_[j] = dhn_[j] * mask_[j] + (prev_dy != nullptr ? prev_dy[j] : T(0));
    }
    if (valid_ != nullptr) {
      for (int64_t n = 0; n < N; ++n)
        if (!valid_[t * N + n])
          for (int64_t j = 0; j < P; ++j) dhn_[n * P + j] += dh_[n * P + j];
    }
    if (dh_new.is_same(dh_buf)) std::swap(dh_buf, spare);  // BLAS wrote into dh_buf: keep dh's buffer apart
    dh = dh_new;
    if (ln_h && t == r0) {  // the chunk's share of dW_hh: dR^T h_rec over its rows
      const int64_t rows = R.size(0);
      dW.addmm_(dR.narrow(0, 0, rows).t(), Hc.narrow(0, 0, rows));
    }
  }
  at::Tensor dlnc = ln_c ? dlnc_parts.sum(0) : at::Tensor();
  if (dG_transposed) dG = dG.t().view({L, N, GH});
  return {dG, dh, dc, DH, dW, ln_h ? dlnh_w_parts.sum(0) : at::Tensor(), ln_c ? dlnc.narrow(0, 0, H) : at::Tensor(),
          ln_c ? dlnc.narrow(0, H, H) : at::Tensor(), pp != nullptr ? dpeep_parts.sum(0).view({3, H}) : at::Tensor()};
}

// --- Elman, Jordan, CTRNN -------------------------------------------------------------------------
// Activation codes, in rnnzoo.engine.ACTIVATIONS' order.
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

template <typename T>
at::Tensor elman_forward_impl(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& W,
                              const c10::optional<at::Tensor>& mask, const c10::optional<at::Tensor>& valid, int64_t act,
                              const c10::optional<at::Tensor>& W_packed) {
  const int64_t L = xp.size(0), N = xp.size(1), H = xp.size(2);
  auto opts = xp.options();
  at::Tensor Y = at::empty({L, N, H}, opts), pre = at::empty({N, H}, opts), hr = at::empty({N, H}, opts);
  const T *xp_ = xp.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = valid.has_value() && valid->defined() ? valid->data_ptr<bool>() : nullptr;
  T *Y_ = Y.data_ptr<T>(), *hr_ = hr.data_ptr<T>();
  const Weight<T> Wh(W, W_packed, N, L);
  const T* h = h0.data_ptr<T>();
  const T* hin = recurrent_input(h, mask_, N * H, hr_);
  for (int64_t t = 0; t < L; ++t) {
    at::Tensor r = product<T>(N, H, H, hin, Wh, nullptr, pre);  // W_hh h_rec
    T* y = Y_ + t * N * H;
    activate_row<T>(static_cast<int>(act), N * H, r.data_ptr<T>(), xp_ + t * N * H, y);
    hold_padded<T>(valid_ ? valid_ + t * N : nullptr, N, H, h, y);
    h = y;
    hin = recurrent_input(h, mask_, N * H, hr_);
  }
  return Y;
}

template <typename T>
std::vector<at::Tensor> jordan_forward_impl(const at::Tensor& xp, const at::Tensor& y0, const at::Tensor& W_hy,
                                            const at::Tensor& W_yh, const at::Tensor& b_y,
                                            const c10::optional<at::Tensor>& mask,
                                            const c10::optional<at::Tensor>& valid, int64_t act_h, int64_t act_y,
                                            bool keep, const c10::optional<at::Tensor>& Why_packed,
                                            const c10::optional<at::Tensor>& Wyh_packed) {
  const int64_t L = xp.size(0), N = xp.size(1), H = xp.size(2), O = y0.size(-1);
  auto opts = xp.options();
  at::Tensor Y = at::empty({L, N, O}, opts), Hh = at::empty({keep ? L : 1, N, H}, opts);
  at::Tensor pre = at::empty({N, H}, opts), out = at::empty({N, O}, opts), yr = at::empty({N, O}, opts);
  at::Tensor bias_rows = b_y.expand({N, O}).contiguous();
  const T *xp_ = xp.data_ptr<T>(), *b_ = bias_rows.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const Weight<T> Why(W_hy, Why_packed, N, L), Wyh(W_yh, Wyh_packed, N, L);
  const bool* valid_ = valid.has_value() && valid->defined() ? valid->data_ptr<bool>() : nullptr;
  T *Y_ = Y.data_ptr<T>(), *H_ = Hh.data_ptr<T>(), *yr_ = yr.data_ptr<T>();
  const T* y = y0.data_ptr<T>();
  const T* yin = recurrent_input(y, mask_, N * O, yr_);
  for (int64_t t = 0; t < L; ++t) {
    T* h = H_ + (keep ? t : 0) * N * H;
    at::Tensor r = product<T>(N, H, O, yin, Why, nullptr, pre);  // h = act_h(xp + W_hy y_rec)
    activate_row<T>(static_cast<int>(act_h), N * H, r.data_ptr<T>(), xp_ + t * N * H, h);
    at::Tensor q = product<T>(N, O, H, h, Wyh, nullptr, out);  // y' = act_y(W_yh h + b_y)
    T* yn = Y_ + t * N * O;
    activate_row<T>(static_cast<int>(act_y), N * O, q.data_ptr<T>(), b_, yn);
    hold_padded<T>(valid_ ? valid_ + t * N : nullptr, N, O, y, yn);
    y = yn;
    yin = recurrent_input(y, mask_, N * O, yr_);
  }
  return {Y, Hh};
}


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

// Jordan's backward loop (rnnzoo/engine/jordan.py's): from the output gradient d of y_t, dP_t = d ⊙ act_y'
// (the gradient of W_yh h + b_y; zero where the step was padded), dX_t = (dP_t W_yh) ⊙ act_h' (of
// xp + W_hy y_rec), and the gradient reaching y_{t-1}: mask ⊙ (dX_t W_hy) + dy_{t-1}, plus d where the step
// was padded (it held the state). The derivatives come from the outputs Y and Hh in the loop. WyhT = W_yh^T
// (H, O), WhyT = W_hy^T (O, H), so that both products are x B^T as `product` takes them.
template <typename T>
std::vector<at::Tensor> jordan_backward_impl(const at::Tensor& dY, const at::Tensor& dyT, const at::Tensor& Y,
                                             const at::Tensor& Hh, const at::Tensor& WyhT, const at::Tensor& WhyT,
                                             const c10::optional<at::Tensor>& mask,
                                             const c10::optional<at::Tensor>& valid, int64_t act_h, int64_t act_y,
                                             const c10::optional<at::Tensor>& WyhT_packed,
                                             const c10::optional<at::Tensor>& WhyT_packed) {
  const int64_t L = dY.size(0), N = dY.size(1), O = dY.size(2), H = Hh.size(2);
  auto opts = dY.options();
  at::Tensor dX = at::empty({L, N, H}, opts), dP = at::empty({L, N, O}, opts), q_buf = at::empty({N, H}, opts);
  at::Tensor d = dY[L - 1] + dyT, d_buf = at::empty({N, O}, opts), spare = at::empty({N, O}, opts);
  const T *dY_ = dY.data_ptr<T>(), *Y_ = Y.data_ptr<T>(), *H_ = Hh.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = valid.has_value() && valid->defined() ? valid->data_ptr<bool>() : nullptr;
  const Weight<T> Wyh(WyhT, WyhT_packed, N, 0), Why(WhyT, WhyT_packed, N, 0);
  T *dX_ = dX.data_ptr<T>(), *dP_ = dP.data_ptr<T>();
  for (int64_t t = L - 1; t >= 0; --t) {
    const T* d_ = d.data_ptr<T>();
    T* dp = dP_ + t * N * O;
    mul_act_grad_row<T>(static_cast<int>(act_y), N * O, d_, Y_ + t * N * O, dp);
    if (valid_ != nullptr) {
      for (int64_t n = 0; n < N; ++n)
        if (!valid_[t * N + n]) std::memset(dp + n * O, 0, O * sizeof(T));
    }
    at::Tensor q = product<T>(N, H, O, dp, Wyh, nullptr, q_buf);
    T* dx = dX_ + t * N * H;
    mul_act_grad_row<T>(static_cast<int>(act_h), N * H, q.data_ptr<T>(), H_ + t * N * H, dx);
    const T* prev_dy = t > 0 ? dY_ + (t - 1) * N * O : nullptr;
    at::Tensor g = product<T>(N, O, H, dx, Why, mask_ == nullptr ? prev_dy : nullptr, d_buf);
    T* g_ = g.data_ptr<T>();
    if (mask_ != nullptr) {
      for (int64_t j = 0; j < N * O; ++j) g_[j] = g_[j] * mask_[j] + (prev_dy != nullptr ? prev_dy[j] : T(0));
    }
    if (valid_ != nullptr) {
      for (int64_t n = 0; n < N; ++n)
        if (!valid_[t * N + n])
          for (int64_t j = 0; j < O; ++j) g_[n * O + j] += d_[n * O + j];
    }
    if (g.is_same(d_buf)) std::swap(d_buf, spare);  // BLAS wrote into d_buf: keep d's buffer apart
    d = g;
  }
  return {dX, dP, d};
}

template <typename T>
std::vector<at::Tensor> ctrnn_forward_impl(const at::Tensor& u, const at::Tensor& C, const at::Tensor& h0,
                                           const at::Tensor& W, const c10::optional<at::Tensor>& mask, int64_t act,
                                           const c10::optional<at::Tensor>& W_packed) {
  const int64_t L = u.size(0), N = u.size(1), H = u.size(2);
  auto opts = u.options();
  at::Tensor Hh = at::empty({L, N, H}, opts), Y = at::empty({L, N, H}, opts);
  at::Tensor pre = at::empty({N, H}, opts), r0 = at::empty({N, H}, opts), rr = at::empty({N, H}, opts);
  const T *u_ = u.data_ptr<T>(), *C_ = C.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const Weight<T> Wh(W, W_packed, N, L);
  T *H_ = Hh.data_ptr<T>(), *Y_ = Y.data_ptr<T>();
  const T* h = h0.data_ptr<T>();
  activate_row<T>(static_cast<int>(act), N * H, h, nullptr, r0.data_ptr<T>());
  const T* r = r0.data_ptr<T>();
  for (int64_t t = 0; t < L; ++t) {
    const T* rin = recurrent_input(r, mask_, N * H, rr.data_ptr<T>());
    const at::Tensor p = product<T>(N, H, H, rin, Wh, nullptr, pre);  // W r_rec
    const T *p_ = p.data_ptr<T>(), *ut = u_ + t * N * H, *ct = C_ + t * N * H;
    T* hn = H_ + t * N * H;
    for (int64_t j = 0; j < N * H; ++j) hn[j] = h[j] + ct[j] * (p_[j] + ut[j] - h[j]);  // c (W r + u - h)
    T* y = Y_ + t * N * H;
    activate_row<T>(static_cast<int>(act), N * H, hn, nullptr, y);
    h = hn;
    r = y;
  }
  return {Hh, Y};
}

// RK4 steps of rnnzoo/engine/ctrnn.py's `_forward_rk4`: k_i = W (act(v_i) ⊙ m) + u - v_i at v_1 = h,
// v_2 = h + c/2 k_1, v_3 = h + c/2 k_2, v_4 = h + c k_3; h' = h + c/6 (k_1 + 2 k_2 + 2 k_3 + k_4), y = act(h').
// The stages are kept stage-major: S (3, L, N, H) = act(v_2..v_4), K (4, L, N, H); of the states h only the
// last is returned (backward needs y = act(h) and the stages), two (N, H) buffers taking turns.
template <typename T>
std::vector<at::Tensor> ctrnn_rk4_forward_impl(const at::Tensor& u, const at::Tensor& C, const at::Tensor& h0,
                                               const at::Tensor& W, const c10::optional<at::Tensor>& mask,
                                               int64_t act, const c10::optional<at::Tensor>& W_packed) {
  const int64_t L = u.size(0), N = u.size(1), H = u.size(2), NH = N * H, LNH = L * NH;
  auto opts = u.options();
  at::Tensor hs = at::empty({2, N, H}, opts), Y = at::empty({L, N, H}, opts);
  at::Tensor S = at::empty({3, L, N, H}, opts), K = at::empty({4, L, N, H}, opts);
  at::Tensor pre = at::empty({N, H}, opts), rr = at::empty({N, H}, opts), v = at::empty({N, H}, opts);
  at::Tensor s0 = at::empty({N, H}, opts);
  const T *u_ = u.data_ptr<T>(), *C_ = C.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const Weight<T> Wh(W, W_packed, N, 4 * L);
  T *hs_ = hs.data_ptr<T>(), *Y_ = Y.data_ptr<T>(), *S_ = S.data_ptr<T>(), *K_ = K.data_ptr<T>();
  T *v_ = v.data_ptr<T>(), *rr_ = rr.data_ptr<T>();
  const T* h = h0.data_ptr<T>();
  activate_row<T>(static_cast<int>(act), NH, h, nullptr, s0.data_ptr<T>());
  const T* s = s0.data_ptr<T>();
  const T half[3] = {T(0.5), T(0.5), T(1)};
  for (int64_t t = 0; t < L; ++t) {
    const T *ut = u_ + t * NH, *ct = C_ + t * NH;
    T* k[4];
    for (int i = 0; i < 4; ++i) k[i] = K_ + i * LNH + t * NH;
    auto f = [&](const T* s_i, const T* v_i, T* out) {  // out = W (s_i ⊙ m) + u - v_i
      const at::Tensor p = product<T>(N, H, H, recurrent_input(s_i, mask_, NH, rr_), Wh, nullptr, pre);
      const T* p_ = p.data_ptr<T>();
      for (int64_t j = 0; j < NH; ++j) out[j] = p_[j] + ut[j] - v_i[j];
    };
    f(s, h, k[0]);
    for (int i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < NH; ++j) v_[j] = h[j] + half[i] * ct[j] * k[i][j];
      T* si = S_ + i * LNH + t * NH;
      activate_row<T>(static_cast<int>(act), NH, v_, nullptr, si);
      f(si, v_, k[i + 1]);
    }
    T* hn = hs_ + (t & 1) * NH;
    for (int64_t j = 0; j < NH; ++j)
      hn[j] = h[j] + ct[j] * T(1.0 / 6) * (k[0][j] + T(2) * (k[1][j] + k[2][j]) + k[3][j]);
    T* y = Y_ + t * NH;
    activate_row<T>(static_cast<int>(act), NH, hn, nullptr, y);
    h = hn;
    s = y;
  }
  return {hs[(L - 1) & 1], Y, S, K};
}

// act'(v) from y = act(v), in rnnzoo.engine.ACTIVATIONS' order (rnnzoo.engine.activation_grad).

// rnnzoo/engine/ctrnn.py's `_backward_rk4`: G (L, N, H) holds act'(h_t) dy_t (+ dh_T) and is overwritten;
// WT = W^T (so that x WT^T = x W, the gradient through the product) -> [dK (4, L, N, H), da (L, N, H), dh_0].
template <typename T>
std::vector<at::Tensor> ctrnn_rk4_backward_impl(const at::Tensor& G, const at::Tensor& C, const at::Tensor& Y,
                                                const at::Tensor& S, const at::Tensor& K, const at::Tensor& s0,
                                                const at::Tensor& WT, const c10::optional<at::Tensor>& mask,
                                                int64_t act, const c10::optional<at::Tensor>& WT_packed) {
  const int64_t L = G.size(0), N = G.size(1), H = G.size(2), NH = N * H, LNH = L * NH;
  auto opts = G.options();
  at::Tensor dK = at::empty({4, L, N, H}, opts), dA = at::empty({L, N, H}, opts), dh0 = at::zeros({N, H}, opts);
  at::Tensor pre = at::empty({N, H}, opts), dvs = at::empty({4, N, H}, opts);
  T *G_ = G.data_ptr<T>(), *dK_ = dK.data_ptr<T>(), *dA_ = dA.data_ptr<T>(), *dv_ = dvs.data_ptr<T>();
  const T *C_ = C.data_ptr<T>(), *Y_ = Y.data_ptr<T>(), *S_ = S.data_ptr<T>(), *K_ = K.data_ptr<T>();
  const T *s0_ = s0.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const Weight<T> Wt(WT, WT_packed, N, 4 * L);
  const int a_ = static_cast<int>(act);
  for (int64_t t = L - 1; t >= 0; --t) {
    const T *g = G_ + t * NH, *a = C_ + t * NH;
    const T *k[4], *s[4];
    T *dk[4], *dv[4];
    for (int i = 0; i < 4; ++i) {
      k[i] = K_ + i * LNH + t * NH;
      dk[i] = dK_ + i * LNH + t * NH;
      dv[i] = dv_ + i * NH;
      s[i] = i == 0 ? (t ? Y_ + (t - 1) * NH : s0_) : S_ + (i - 1) * LNH + t * NH;
    }
    auto jt = [&](int i) {  // dv_i = J(v_i)^T dk_i = act'(v_i) ⊙ m ⊙ (dk_i W) - dk_i
      const at::Tensor p = product<T>(N, H, H, dk[i], Wt, nullptr, pre);
      const T* p_ = p.data_ptr<T>();
      for (int64_t j = 0; j < NH; ++j) {
        const T d = act_grad_<T>(a_, s[i][j]) * (mask_ != nullptr ? mask_[j] : T(1));
        dv[i][j] = d * p_[j] - dk[i][j];
      }
    };
    for (int64_t j = 0; j < NH; ++j) dk[3][j] = a[j] * g[j] * T(1.0 / 6);
    jt(3);
    for (int64_t j = 0; j < NH; ++j) dk[2][j] = a[j] * (g[j] * T(1.0 / 3) + dv[3][j]);
    jt(2);
    for (int64_t j = 0; j < NH; ++j) dk[1][j] = a[j] * (g[j] * T(1.0 / 3) + T(0.5) * dv[2][j]);
    jt(1);
    for (int64_t j = 0; j < NH; ++j) dk[0][j] = a[j] * (g[j] * T(1.0 / 6) + T(0.5) * dv[1][j]);
    jt(0);
    T* da = dA_ + t * NH;
    T* back = t ? G_ + (t - 1) * NH : dh0.data_ptr<T>();  // G[t - 1] holds its own output gradient; dh0 0
    for (int64_t j = 0; j < NH; ++j) {
      da[j] = g[j] * (k[0][j] + T(2) * (k[1][j] + k[2][j]) + k[3][j]) * T(1.0 / 6) + k[2][j] * dv[3][j] +
              T(0.5) * (k[1][j] * dv[2][j] + k[0][j] * dv[1][j]);
      back[j] += g[j] + dv[0][j] + dv[1][j] + dv[2][j] + dv[3][j];
    }
  }
  return {dK, dA, dh0};
}

// --- Echo state network (rnnzoo/reservoir/_run.py) --------------------------------------------------
// The reservoir runs in the s variables of _run.form: s' = (1 - a) s + a sigmoid(M s + d) with x = alpha s +
// beta (tanh units as one sigmoid). M is sparse (CSR, int32 indices; ~10 nonzeros a row in Jaeger's
// reservoir), so a step is ~10 gathers a row from s, which stays in L1: 5-7 us a step at 1000 units against
// 10.7 for torch's CSR product, sigmoid and lerp. (Measured no faster: sliced ELLPACK with 8 rows side by
// side, AVX-512 gathers, 4 partial sums a row.)
template <typename T> struct Csr {
  const int32_t *ptr, *idx;
  const T* val;
  int64_t rows;
  Csr(const at::Tensor& p, const at::Tensor& i, const at::Tensor& v)
      : ptr(p.data_ptr<int32_t>()), idx(i.data_ptr<int32_t>()), val(v.data_ptr<T>()), rows(p.numel() - 1) {}

  // z (rows, B) = d + M s for s (cols, B), all row-major.
  void affine(const T* s, int64_t B, const T* d, T* z) const {
    if (B == 1) {
      for (int64_t i = 0; i < rows; ++i) {
        T acc = d[i];
        for (int32_t k = ptr[i]; k < ptr[i + 1]; ++k) acc += val[k] * s[idx[k]];
        z[i] = acc;
      }
      return;
    }
    for (int64_t i = 0; i < rows; ++i) {
      T* zi = z + i * B;
      for (int64_t b = 0; b < B; ++b) zi[b] = d[i * B + b];
      for (int32_t k = ptr[i]; k < ptr[i + 1]; ++k) {
        const T w = val[k], *sj = s + static_cast<int64_t>(idx[k]) * B;
        for (int64_t b = 0; b < B; ++b) zi[b] += w * sj[b];
      }
    }
  }
};

// s <- s + a (sigmoid(z) - s) (torch.lerp's form), and x = alpha s + beta written to x when not null.
template <typename T> void esn_update(int64_t n, T a, const T* z, T* s, T alpha, T beta, T* x) {
  if (a == T(1)) {
    for (int64_t j = 0; j < n; ++j) s[j] = sigmoid_(z[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) s[j] = s[j] + a * (sigmoid_(z[j]) - s[j]);
  }
  if (x != nullptr)
    for (int64_t j = 0; j < n; ++j) x[j] = alpha * s[j] + beta;
}

template <typename T>
at::Tensor esn_driven_impl(const at::Tensor& d, const at::Tensor& ptr, const at::Tensor& idx, const at::Tensor& val,
                           const at::Tensor& s0, double a, double alpha, double beta) {
  const int64_t L = d.size(0), n = d.size(1), B = d.size(2);
  const Csr<T> M(ptr, idx, val);
  at::Tensor X = at::empty_like(d), s = s0.reshape({n, B}).clone(), z = at::empty({n, B}, d.options());
  const T* d_ = d.data_ptr<T>();
  T *X_ = X.data_ptr<T>(), *s_ = s.data_ptr<T>(), *z_ = z.data_ptr<T>();
  for (int64_t t = 0; t < L; ++t) {
    M.affine(s_, B, d_ + t * n * B, z_);
    esn_update<T>(n * B, T(a), z_, s_, T(alpha), T(beta), X_ + t * n * B);
  }
  return X;
}

// One sequence, one layer: c = base(t) + W_y y; s <- lerp(s, sigmoid(M s + c), a); y = b + W_u v + W_x s
// with v = u(t), or the previous y when u is not given (y feeds back as the next input).
template <typename T>
std::vector<at::Tensor> esn_closed_impl(const at::Tensor& base, const at::Tensor& ptr, const at::Tensor& idx,
                                        const at::Tensor& val, const at::Tensor& W_y, const at::Tensor& W_x,
                                        const at::Tensor& b, const c10::optional<at::Tensor>& W_u,
                                        const c10::optional<at::Tensor>& u, const at::Tensor& s0,
                                        const at::Tensor& y0, double a) {
  const int64_t steps = base.size(0), n = base.size(1), O = W_x.size(0);
  const int64_t I = W_u.has_value() && W_u->defined() ? W_u->size(1) : 0;
  const Csr<T> M(ptr, idx, val);
  auto opts = base.options();
  at::Tensor Ys = at::empty({steps, O}, opts), s = s0.clone(), c = at::empty({n}, opts), z = at::empty({n}, opts);
  at::Tensor y = y0.clone();
  const T *base_ = base.data_ptr<T>(), *Wy = W_y.data_ptr<T>(), *Wx = W_x.data_ptr<T>(), *b_ = b.data_ptr<T>();
  const T *Wu = ptr_or_null<T>(W_u), *u_ = ptr_or_null<T>(u);
  T *s_ = s.data_ptr<T>(), *c_ = c.data_ptr<T>(), *z_ = z.data_ptr<T>(), *Ys_ = Ys.data_ptr<T>();
  const T* yp = y.data_ptr<T>();  // the previous output
  for (int64_t t = 0; t < steps; ++t) {
    const T* bt = base_ + t * n;
    for (int64_t i = 0; i < n; ++i) {
      T acc = bt[i];
      for (int64_t o = 0; o < O; ++o) acc += Wy[i * O + o] * yp[o];
      c_[i] = acc;
    }
    M.affine(s_, 1, c_, z_);
    esn_update<T>(n, T(a), z_, s_, T(0), T(0), static_cast<T*>(nullptr));
    const T* v = u_ != nullptr ? u_ + t * I : yp;
    T* yt = Ys_ + t * O;
    for (int64_t o = 0; o < O; ++o) {
      const T* wx = Wx + o * n;
      T acc = b_[o] + sum16<T>(n, [wx, s_](int64_t j) { return wx[j] * s_[j]; });
      for (int64_t i = 0; i < I; ++i) acc += Wu[o * I + i] * v[i];
      yt[o] = acc;
    }
    yp = yt;
  }
  return {Ys, s};
}
}  // namespace

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

// (xp (L, N, G*H), h0 (N, P), c0 (N, H), W_hh (G*H, P), W_hr (P, H)?, peephole (3, H)?, ln_h w/b (G*H)?,
//  ln_c w/b (H)?, mask (N, P)?, valid (L, N) bool?, coupled, eps_h, eps_c, keep) ->
// [Y, C, A, T, c_T, mean_h, rstd_h, mean_c, rstd_c], all contiguous, one dtype (float32 or float64),
// the g block of xp and W_hh (or of ln_h's affine) doubled as in rnnzoo/engine/lstm.py.
std::vector<at::Tensor> lstm_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                     const at::Tensor& W, const c10::optional<at::Tensor>& Wr,
                                     const c10::optional<at::Tensor>& peep,
                                     const c10::optional<at::Tensor>& lnh_w,
                                     const c10::optional<at::Tensor>& lnh_b,
                                     const c10::optional<at::Tensor>& lnc_w,
                                     const c10::optional<at::Tensor>& lnc_b,
                                     const c10::optional<at::Tensor>& mask,
                                     const c10::optional<at::Tensor>& valid, bool coupled, double eps_h,
                                     double eps_c, bool keep, const c10::optional<at::Tensor>& W_packed,
                                     const c10::optional<at::Tensor>& Wr_packed) {
  return RNNZOO_DISPATCH(xp, "xp", lstm_forward_impl<T>(xp, h0, c0, W, Wr, peep, lnh_w, lnh_b, lnc_w, lnc_b, mask,
                                                     valid, coupled, eps_h, eps_c, keep, W_packed, Wr_packed));
}

// (xp (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, valid (L, N) bool?, activation code, W_hh packed?) ->
// Y (L, N, H): rnnzoo/engine/elman.py's `_forward`.
at::Tensor elman_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& W,
                         const c10::optional<at::Tensor>& mask, const c10::optional<at::Tensor>& valid, int64_t act,
                         const c10::optional<at::Tensor>& W_packed) {
  return RNNZOO_DISPATCH(xp, "xp", elman_forward_impl<T>(xp, h0, W, mask, valid, act, W_packed));
}

// (xp (L, N, H), y0 (N, O), W_hy (H, O), W_yh (O, H), b_y (O), mask (N, O)?, valid?, act_h, act_y, keep,
// packed W_hy / W_yh?) -> [Y (L, N, O), H (L or 1, N, H)]: rnnzoo/engine/jordan.py's `_forward`.
std::vector<at::Tensor> jordan_forward(const at::Tensor& xp, const at::Tensor& y0, const at::Tensor& W_hy,
                                       const at::Tensor& W_yh, const at::Tensor& b_y,
                                       const c10::optional<at::Tensor>& mask, const c10::optional<at::Tensor>& valid,
                                       int64_t act_h, int64_t act_y, bool keep,
                                       const c10::optional<at::Tensor>& Why_packed,
                                       const c10::optional<at::Tensor>& Wyh_packed) {
  return RNNZOO_DISPATCH(xp, "xp", jordan_forward_impl<T>(xp, y0, W_hy, W_yh, b_y, mask, valid, act_h, act_y, keep,
                                                          Why_packed, Wyh_packed));
}

// (dY (L, N, P) with padded steps zeroed, dh_T, dc_T, h_0, c_0, the forward's Y, A, T, C, W_hh^T (P, G*H),
//  W_hr^T (H, P)?, peephole (3, H)?, mask (N, P)?, valid (L, N) bool?, coupled, W_hh^T / W_hr^T packed for
//  oneDNN?, then with layer_norm: ln_h weight, mean_h, rstd_h, W_hh (G*H, P), W_hh packed for chunk * N rows?,
//  chunk, ln_c weight, mean_c, rstd_c, dG_transposed) -> [dG (L, N, G*H) (dG_transposed: a view of a contiguous
//  (G*H, L*N) matrix), dh_0, dc_0, DH (L, N, P) with proj_size, dW_hh with ln_h, ln_h's weight gradient, ln_c's
//  weight and bias gradients, the peephole weights' gradient (3, H) with peepholes]:
// rnnzoo/engine/lstm_backward.py's loop, the gate-gradient factors computed in the loop instead of beforehand.
std::vector<at::Tensor> lstm_backward(const at::Tensor& dY, const at::Tensor& dhT, const at::Tensor& dcT,
                                      const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& Y,
                                      const at::Tensor& A, const at::Tensor& Tc,
                                      const at::Tensor& C, const at::Tensor& WT, const c10::optional<at::Tensor>& WrT,
                                      const c10::optional<at::Tensor>& peep, const c10::optional<at::Tensor>& mask,
                                      const c10::optional<at::Tensor>& valid, bool coupled,
                                      const c10::optional<at::Tensor>& WT_packed,
                                      const c10::optional<at::Tensor>& WrT_packed,
                                      const c10::optional<at::Tensor>& lnh_w, const c10::optional<at::Tensor>& MH,
                                      const c10::optional<at::Tensor>& SH, const c10::optional<at::Tensor>& W,
                                      const c10::optional<at::Tensor>& W_packed, int64_t chunk,
                                      const c10::optional<at::Tensor>& lnc_w, const c10::optional<at::Tensor>& MC,
                                      const c10::optional<at::Tensor>& SC, bool dG_transposed) {
  auto def = [](const c10::optional<at::Tensor>& t) { return t.has_value() ? *t : at::Tensor(); };
  LayerNormGrad ln{def(lnh_w), def(MH), def(SH), def(W), def(lnc_w), def(MC), def(SC), W_packed, chunk};
  return RNNZOO_DISPATCH(A, "A", lstm_backward_impl<T>(dY, dhT, dcT, h0, c0, Y, A, Tc, C, WT, WrT, peep, mask,
                                                       valid, coupled, WT_packed, WrT_packed, ln, dG_transposed));
}

// (dY (L, N, O) with padded steps zeroed, dy_T, the forward's Y (L, N, O) and Hh (L, N, H), W_yh^T (H, O),
//  W_hy^T (O, H), mask (N, O)?, valid (L, N) bool?, act_h, act_y, both weights packed for oneDNN?) ->
//  [dX (L, N, H), dP (L, N, O), dy_0]: rnnzoo/engine/jordan.py's backward loop.
std::vector<at::Tensor> jordan_backward(const at::Tensor& dY, const at::Tensor& dyT, const at::Tensor& Y,
                                        const at::Tensor& Hh, const at::Tensor& WyhT, const at::Tensor& WhyT,
                                        const c10::optional<at::Tensor>& mask, const c10::optional<at::Tensor>& valid,
                                        int64_t act_h, int64_t act_y, const c10::optional<at::Tensor>& WyhT_packed,
                                        const c10::optional<at::Tensor>& WhyT_packed) {
  return RNNZOO_DISPATCH(dY, "dY", jordan_backward_impl<T>(dY, dyT, Y, Hh, WyhT, WhyT, mask, valid, act_h, act_y,
                                                           WyhT_packed, WhyT_packed));
}

// (u (L, N, H), c = dt / tau (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, activation code, W_hh packed?)
// -> [H (L, N, H), Y = act(H)]: rnnzoo/engine/ctrnn.py's `_forward` (Euler steps).
std::vector<at::Tensor> ctrnn_forward(const at::Tensor& u, const at::Tensor& C, const at::Tensor& h0,
                                      const at::Tensor& W, const c10::optional<at::Tensor>& mask, int64_t act,
                                      const c10::optional<at::Tensor>& W_packed) {
  return RNNZOO_DISPATCH(u, "u", ctrnn_forward_impl<T>(u, C, h0, W, mask, act, W_packed));
}

// (drive (L, n, B), M as CSR: crow (n + 1) int32, col int32, values, s0 (n, B), a, alpha, beta) -> X (L, n, B)
// = alpha s + beta of every step: rnnzoo/reservoir/_run.py's `loop` (sigmoid form) and its x.
at::Tensor esn_driven(const at::Tensor& d, const at::Tensor& ptr, const at::Tensor& idx, const at::Tensor& val,
                      const at::Tensor& s0, double a, double alpha, double beta) {
  return RNNZOO_DISPATCH(d, "d", esn_driven_impl<T>(d, ptr, idx, val, s0, a, alpha, beta));
}

// (base (steps, n, 1), M as CSR, W_y (n, O), W_x (O, n), b (O), W_u (O, I)?, u (steps, I)?, s0 (n), y0 (O), a)
// -> [Y (steps, O), s (n)]: rnnzoo/reservoir/_run.py's `closed` for one sequence and one layer.
std::vector<at::Tensor> esn_closed(const at::Tensor& base, const at::Tensor& ptr, const at::Tensor& idx,
                                   const at::Tensor& val, const at::Tensor& W_y, const at::Tensor& W_x,
                                   const at::Tensor& b, const c10::optional<at::Tensor>& W_u,
                                   const c10::optional<at::Tensor>& u, const at::Tensor& s0, const at::Tensor& y0,
                                   double a) {
  return RNNZOO_DISPATCH(base, "base", esn_closed_impl<T>(base.squeeze(2), ptr, idx, val, W_y, W_x, b, W_u, u, s0,
                                                          y0, a));
}

// (u (L, N, H), c = dt / tau (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, activation code, W_hh packed?)
// -> [h_T, Y = act(H) (L, N, H), S (3, L, N, H), K (4, L, N, H)]: rnnzoo/engine/ctrnn.py's `_forward_rk4`.
std::vector<at::Tensor> ctrnn_rk4_forward(const at::Tensor& u, const at::Tensor& C, const at::Tensor& h0,
                                          const at::Tensor& W, const c10::optional<at::Tensor>& mask, int64_t act,
                                          const c10::optional<at::Tensor>& W_packed) {
  return RNNZOO_DISPATCH(u, "u", ctrnn_rk4_forward_impl<T>(u, C, h0, W, mask, act, W_packed));
}

// (G (L, N, H), c (L, N, H), Y, S (3, L, N, H), K (4, L, N, H), act(h0) (N, H), W_hh^T, mask (N, H)?, activation
// code, W_hh^T packed?) -> [dK (4, L, N, H), da (L, N, H), dh_0]: rnnzoo/engine/ctrnn.py's `_backward_rk4`.
std::vector<at::Tensor> ctrnn_rk4_backward(const at::Tensor& G, const at::Tensor& C, const at::Tensor& Y,
                                           const at::Tensor& S, const at::Tensor& K, const at::Tensor& s0,
                                           const at::Tensor& WT, const c10::optional<at::Tensor>& mask, int64_t act,
                                           const c10::optional<at::Tensor>& WT_packed) {
  return RNNZOO_DISPATCH(G, "G", ctrnn_rk4_backward_impl<T>(G, C, Y, S, K, s0, WT, mask, act, WT_packed));
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ctrnn_rk4_backward", &ctrnn_rk4_backward, "CTRNN engine backward, RK4 steps (see rnnzoo/engine/ctrnn.py)");
  m.def("ctrnn_rk4_forward", &ctrnn_rk4_forward, "CTRNN engine forward, RK4 steps (see rnnzoo/engine/ctrnn.py)");
  m.def("esn_closed", &esn_closed, "Echo state network closed loop (see rnnzoo/reservoir/_run.py)");
  m.def("esn_driven", &esn_driven, "Echo state network driven run (see rnnzoo/reservoir/_run.py)");
  m.def("ctrnn_forward", &ctrnn_forward, "CTRNN engine forward, Euler steps (see rnnzoo/engine/ctrnn.py)");
  m.def("elman_forward", &elman_forward, "Elman engine forward (see rnnzoo/engine/elman.py)");
  m.def("jordan_forward", &jordan_forward, "Jordan engine forward (see rnnzoo/engine/jordan.py)");
  m.def("jordan_backward", &jordan_backward, "Jordan engine backward loop (see rnnzoo/engine/jordan.py)");
  m.def("lstm_backward", &lstm_backward, "LSTM engine backward loop (see rnnzoo/engine/lstm_backward.py)");
  m.def("lstm_forward", &lstm_forward, "LSTM engine forward over a whole sequence (see rnnzoo/engine/lstm.py)");
}
