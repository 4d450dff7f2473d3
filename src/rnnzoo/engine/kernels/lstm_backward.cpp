// The LSTM engine's backward loop (rnnzoo/engine/lstm_backward.py's, every option), the gate-gradient factors
// computed in the loop from the forward's saved activations instead of beforehand; with layer_norm it recomputes
// W_hh h_rec a chunk of steps at a time and sums LN_h's, LN_c's and the peepholes' weight gradients as it goes.

#include "common.h"
#include "kernels.h"

namespace {

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
                                           const at::Tensor& A, const at::Tensor& Tc, const at::Tensor& C,
                                           const at::Tensor& WT, const OptTensor& WrT, const OptTensor& peep,
                                           const OptTensor& mask, const OptTensor& valid, bool coupled,
                                           const OptTensor& WT_packed, const OptTensor& WrT_packed,
                                           const LayerNormGrad& ln, bool dG_transposed) {
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
  const bool* valid_ = ptr_or_null<bool>(valid);
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
    at::Tensor dh_new = state_grad<T>(N, P, GH, drec, Wt, prev_dy, mask_, valid_ ? valid_ + t * N : nullptr, dh_,
                                      dh_buf);
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
}  // namespace

std::vector<at::Tensor> lstm_backward(const at::Tensor& dY, const at::Tensor& dh_T, const at::Tensor& dc_T,
                                      const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& Y,
                                      const at::Tensor& A, const at::Tensor& Tc, const at::Tensor& C,
                                      const at::Tensor& W_hh_t, const OptTensor& W_hr_t, const OptTensor& peephole,
                                      const OptTensor& mask, const OptTensor& valid, bool coupled,
                                      const OptTensor& W_hh_t_packed, const OptTensor& W_hr_t_packed,
                                      const OptTensor& ln_h_weight, const OptTensor& mean_h, const OptTensor& rstd_h,
                                      const OptTensor& W_hh, const OptTensor& W_hh_packed, int64_t chunk,
                                      const OptTensor& ln_c_weight, const OptTensor& mean_c, const OptTensor& rstd_c,
                                      bool dG_transposed) {
  auto def = [](const OptTensor& t) { return t.has_value() ? *t : at::Tensor(); };
  LayerNormGrad ln{def(ln_h_weight), def(mean_h), def(rstd_h), def(W_hh), def(ln_c_weight), def(mean_c),
                   def(rstd_c), W_hh_packed, chunk};
  return RNNZOO_DISPATCH(A, "A", lstm_backward_impl<T>(dY, dh_T, dc_T, h0, c0, Y, A, Tc, C, W_hh_t, W_hr_t,
                                                       peephole, mask, valid, coupled, W_hh_t_packed, W_hr_t_packed,
                                                       ln, dG_transposed));
}
