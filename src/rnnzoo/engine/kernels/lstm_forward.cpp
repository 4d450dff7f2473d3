// The LSTM engine's forward loop (rnnzoo/engine/lstm.py's `_forward`; every option: peepholes, coupled gates,
// layer_norm, proj_size, recurrent dropout, padding), the whole sequence in one call.
//
// Why it is faster: the Python engine runs 8-13 ATen kernels per time step, each a trip through the
// dispatcher (and a pass over memory); at batch 1 that overhead is the whole cost. Here a step is one
// matrix product (BLAS or oneDNN) and one fused loop over the gate row.

#include "common.h"
#include "kernels.h"

namespace {

template <typename T>
std::vector<at::Tensor> lstm_forward_impl(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                          const at::Tensor& W, const OptTensor& Wr, const OptTensor& peep,
                                          const OptTensor& lnh_w, const OptTensor& lnh_b, const OptTensor& lnc_w,
                                          const OptTensor& lnc_b, const OptTensor& mask, const OptTensor& valid,
                                          bool coupled, double eps_h, double eps_c, bool keep,
                                          const OptTensor& W_packed, const OptTensor& Wr_packed) {
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
  const bool* valid_ = ptr_or_null<bool>(valid);
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
}  // namespace

std::vector<at::Tensor> lstm_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                     const at::Tensor& W_hh, const OptTensor& W_hr, const OptTensor& peephole,
                                     const OptTensor& ln_h_weight, const OptTensor& ln_h_bias,
                                     const OptTensor& ln_c_weight, const OptTensor& ln_c_bias, const OptTensor& mask,
                                     const OptTensor& valid, bool coupled, double eps_h, double eps_c, bool keep,
                                     const OptTensor& W_hh_packed, const OptTensor& W_hr_packed) {
  return RNNZOO_DISPATCH(xp, "xp", lstm_forward_impl<T>(xp, h0, c0, W_hh, W_hr, peephole, ln_h_weight, ln_h_bias,
                                                     ln_c_weight, ln_c_bias, mask, valid, coupled, eps_h, eps_c,
                                                     keep, W_hh_packed, W_hr_packed));
}
