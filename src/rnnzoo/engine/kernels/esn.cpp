// The echo state network's loops (rnnzoo/reservoir/_run.py): a driven run of many sequences (`loop`) and the
// closed loop of one sequence and one layer (`closed`), the reservoir as CSR.

#include "common.h"
#include "kernels.h"

namespace {

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
                                        const at::Tensor& b, const OptTensor& W_u,
                                        const OptTensor& u, const at::Tensor& s0,
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

at::Tensor esn_driven(const at::Tensor& drive, const at::Tensor& crow, const at::Tensor& col,
                      const at::Tensor& values, const at::Tensor& s0, double leak_rate, double alpha, double beta) {
  return RNNZOO_DISPATCH(drive, "drive", esn_driven_impl<T>(drive, crow, col, values, s0, leak_rate, alpha, beta));
}

std::vector<at::Tensor> esn_closed(const at::Tensor& base, const at::Tensor& crow, const at::Tensor& col,
                                   const at::Tensor& values, const at::Tensor& W_y, const at::Tensor& W_x,
                                   const at::Tensor& b, const OptTensor& W_u, const OptTensor& u,
                                   const at::Tensor& s0, const at::Tensor& y0, double leak_rate) {
  return RNNZOO_DISPATCH(base, "base", esn_closed_impl<T>(base.squeeze(2), crow, col, values, W_y, W_x, b, W_u, u,
                                                          s0, y0, leak_rate));
}
