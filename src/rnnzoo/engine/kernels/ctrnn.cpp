// The CTRNN engine's loops (rnnzoo/engine/ctrnn.py): the Euler forward (its backward stays in Python), and the
// RK4 forward and backward. Padded steps need nothing here: their rate c is 0, so the state carries over.
// The RK4 backward's gradient through each stage, act'(v_i) ⊙ m ⊙ (dk_i W) - dk_i, is not `state_grad`'s form
// (no output gradient joins per stage, no padded rows): it stays written out in `jt` below.

#include "common.h"
#include "kernels.h"

namespace {

template <typename T>
std::vector<at::Tensor> ctrnn_forward_impl(const at::Tensor& u, const at::Tensor& C, const at::Tensor& h0,
                                           const at::Tensor& W, const OptTensor& mask, int64_t act,
                                           const OptTensor& W_packed) {
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
                                               const at::Tensor& W, const OptTensor& mask,
                                               int64_t act, const OptTensor& W_packed) {
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

// rnnzoo/engine/ctrnn.py's `_backward_rk4`: G (L, N, H) holds act'(h_t) dy_t (+ dh_T) and is overwritten;
// WT = W^T (so that x WT^T = x W, the gradient through the product) -> [dK (4, L, N, H), da (L, N, H), dh_0].
template <typename T>
std::vector<at::Tensor> ctrnn_rk4_backward_impl(const at::Tensor& G, const at::Tensor& C, const at::Tensor& Y,
                                                const at::Tensor& S, const at::Tensor& K, const at::Tensor& s0,
                                                const at::Tensor& WT, const OptTensor& mask,
                                                int64_t act, const OptTensor& WT_packed) {
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
}  // namespace

std::vector<at::Tensor> ctrnn_forward(const at::Tensor& u, const at::Tensor& c, const at::Tensor& h0,
                                      const at::Tensor& W_hh, const OptTensor& mask, int64_t act,
                                      const OptTensor& W_hh_packed) {
  return RNNZOO_DISPATCH(u, "u", ctrnn_forward_impl<T>(u, c, h0, W_hh, mask, act, W_hh_packed));
}

std::vector<at::Tensor> ctrnn_rk4_forward(const at::Tensor& u, const at::Tensor& c, const at::Tensor& h0,
                                          const at::Tensor& W_hh, const OptTensor& mask, int64_t act,
                                          const OptTensor& W_hh_packed) {
  return RNNZOO_DISPATCH(u, "u", ctrnn_rk4_forward_impl<T>(u, c, h0, W_hh, mask, act, W_hh_packed));
}

std::vector<at::Tensor> ctrnn_rk4_backward(const at::Tensor& G, const at::Tensor& c, const at::Tensor& Y,
                                           const at::Tensor& S, const at::Tensor& K, const at::Tensor& s0,
                                           const at::Tensor& W_hh_t, const OptTensor& mask, int64_t act,
                                           const OptTensor& W_hh_t_packed) {
  return RNNZOO_DISPATCH(G, "G", ctrnn_rk4_backward_impl<T>(G, c, Y, S, K, s0, W_hh_t, mask, act, W_hh_t_packed));
}
