// The Python module of the compiled kernels (rnnzoo/engine/native.py builds every source in this folder into one
// extension). Every kernel takes keyword arguments only, named as in kernels.h, where their shapes are; an
// optional tensor (None from Python) defaults to None. The engines call them as
// `kernels.lstm_forward(**native.contiguous(xp=..., h0=..., ...))`.

#include <torch/extension.h>

#include "kernels.h"

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  const auto none = py::none();
  m.def("lstm_forward", &lstm_forward, "LSTM engine forward over a whole sequence (see rnnzoo/engine/lstm.py)",
        py::kw_only(), py::arg("xp"), py::arg("h0"), py::arg("c0"), py::arg("W_hh"), py::arg("W_hr") = none,
        py::arg("peephole") = none, py::arg("ln_h_weight") = none, py::arg("ln_h_bias") = none,
        py::arg("ln_c_weight") = none, py::arg("ln_c_bias") = none, py::arg("mask") = none, py::arg("valid") = none,
        py::arg("coupled"), py::arg("eps_h"), py::arg("eps_c"), py::arg("keep"), py::arg("W_hh_packed") = none,
        py::arg("W_hr_packed") = none);
  m.def("lstm_backward", &lstm_backward, "LSTM engine backward loop (see rnnzoo/engine/lstm_backward.py)",
        py::kw_only(), py::arg("dY"), py::arg("dh_T"), py::arg("dc_T"), py::arg("h0"), py::arg("c0"), py::arg("Y"),
        py::arg("A"), py::arg("T"), py::arg("C"), py::arg("W_hh_t"), py::arg("W_hr_t") = none,
        py::arg("peephole") = none, py::arg("mask") = none, py::arg("valid") = none, py::arg("coupled"),
        py::arg("W_hh_t_packed") = none, py::arg("W_hr_t_packed") = none, py::arg("ln_h_weight") = none,
        py::arg("mean_h") = none, py::arg("rstd_h") = none, py::arg("W_hh") = none, py::arg("W_hh_packed") = none,
        py::arg("chunk") = 1, py::arg("ln_c_weight") = none, py::arg("mean_c") = none, py::arg("rstd_c") = none,
        py::arg("dG_transposed"));
  m.def("elman_forward", &elman_forward, "Elman engine forward (see rnnzoo/engine/elman.py)", py::kw_only(),
        py::arg("xp"), py::arg("h0"), py::arg("W_hh"), py::arg("mask") = none, py::arg("valid") = none,
        py::arg("act"), py::arg("W_hh_packed") = none);
  m.def("jordan_forward", &jordan_forward, "Jordan engine forward (see rnnzoo/engine/jordan.py)", py::kw_only(),
        py::arg("xp"), py::arg("y0"), py::arg("W_hy"), py::arg("W_yh"), py::arg("b_y"), py::arg("mask") = none,
        py::arg("valid") = none, py::arg("act_h"), py::arg("act_y"), py::arg("keep"), py::arg("W_hy_packed") = none,
        py::arg("W_yh_packed") = none);
  m.def("jordan_backward", &jordan_backward, "Jordan engine backward loop (see rnnzoo/engine/jordan.py)",
        py::kw_only(), py::arg("dY"), py::arg("dy_T"), py::arg("Y"), py::arg("Hh"), py::arg("W_yh_t"),
        py::arg("W_hy_t"), py::arg("mask") = none, py::arg("valid") = none, py::arg("act_h"), py::arg("act_y"),
        py::arg("W_yh_t_packed") = none, py::arg("W_hy_t_packed") = none);
  m.def("ctrnn_forward", &ctrnn_forward, "CTRNN engine forward, Euler steps (see rnnzoo/engine/ctrnn.py)",
        py::kw_only(), py::arg("u"), py::arg("c"), py::arg("h0"), py::arg("W_hh"), py::arg("mask") = none,
        py::arg("act"), py::arg("W_hh_packed") = none);
  m.def("ctrnn_rk4_forward", &ctrnn_rk4_forward, "CTRNN engine forward, RK4 steps (see rnnzoo/engine/ctrnn.py)",
        py::kw_only(), py::arg("u"), py::arg("c"), py::arg("h0"), py::arg("W_hh"), py::arg("mask") = none,
        py::arg("act"), py::arg("W_hh_packed") = none);
  m.def("ctrnn_rk4_backward", &ctrnn_rk4_backward, "CTRNN engine backward, RK4 steps (see rnnzoo/engine/ctrnn.py)",
        py::kw_only(), py::arg("G"), py::arg("c"), py::arg("Y"), py::arg("S"), py::arg("K"), py::arg("s0"),
        py::arg("W_hh_t"), py::arg("mask") = none, py::arg("act"), py::arg("W_hh_t_packed") = none);
  m.def("esn_driven", &esn_driven, "Echo state network driven run (see rnnzoo/reservoir/_run.py)", py::kw_only(),
        py::arg("drive"), py::arg("crow"), py::arg("col"), py::arg("values"), py::arg("s0"), py::arg("leak_rate"),
        py::arg("alpha"), py::arg("beta"));
  m.def("esn_closed", &esn_closed, "Echo state network closed loop (see rnnzoo/reservoir/_run.py)", py::kw_only(),
        py::arg("base"), py::arg("crow"), py::arg("col"), py::arg("values"), py::arg("W_y"), py::arg("W_x"),
        py::arg("b"), py::arg("W_u") = none, py::arg("u") = none, py::arg("s0"), py::arg("y0"),
        py::arg("leak_rate"));
  m.def("scan_forward", &scan_forward, "minGRU / minLSTM linear scan forward (see rnnzoo/engine/scan.py)",
        py::kw_only(), py::arg("xp"), py::arg("h0"), py::arg("valid") = none, py::arg("kind"));
  m.def("scan_backward", &scan_backward, "minGRU / minLSTM linear scan backward (see rnnzoo/engine/scan.py)",
        py::kw_only(), py::arg("dY"), py::arg("xp"), py::arg("h0"), py::arg("Y"), py::arg("valid") = none,
        py::arg("kind"));
}
