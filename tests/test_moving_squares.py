"""Bouncing squares: shapes, pixel range, determinism, squares stay inside and bounce off the walls
with constant speed, frames show the squares where the states say, and a ConvLSTM beats copying the
last frame after a short training."""

import importlib.util
from pathlib import Path

import pytest
import torch

from rnnzoo.data import bouncing_squares

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shapes_range_and_determinism_under_a_seed():
    state = torch.get_rng_state()
    a, b, c = (bouncing_squares(6, 12, size=16, seed=s) for s in (3, 3, 4))
    assert torch.equal(torch.get_rng_state(), state)  # its own generator
    assert a.shape == (6, 12, 1, 16, 16) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0 and float(a.max()) == 1.0
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_squares_stay_inside_keep_their_speed_and_bounce_off_the_walls():
    _, s = bouncing_squares(64, 40, size=16, squares=(1, 3), square_size=(2, 4), speed=(1.0, 2.5),
                                 seed=0, return_states=True)
    p, v, side, present = s["position"], s["velocity"], s["side"], s["present"]
    assert p.shape == v.shape == (64, 40, 3, 2) and side.shape == present.shape == (64, 3)
    assert set(present.sum(1).tolist()) == {1, 2, 3} and set(side.unique().tolist()) == {2.0, 3.0, 4.0}
    room = (16 - side)[:, None, :, None]
    assert bool((p >= 0).all()) and bool((p <= room).all())
    speed = v.norm(dim=-1)
    assert torch.allclose(speed, speed[:, :1].expand_as(speed))  # |v| never changes
    assert bool(((speed >= 1.0) & (speed <= 2.5)).all())
    flipped = v[:, 1:] * v[:, :-1] < 0  # a component changed sign between frames t-1 and t
    moved = p[:, 1:] - p[:, :-1]
    unflipped = ~flipped
    assert torch.allclose(moved[unflipped], v[:, :-1][unflipped])  # free flight: p += v
    assert int(flipped[present[:, None, :, None].expand_as(flipped)].sum()) > 50  # bounces happen
    # at a flip the wall is within one step: the square touched 0 or room on that axis
    wall_gap = torch.minimum(p[:, 1:], room - p[:, 1:])
    assert bool((wall_gap[flipped] <= v[:, :-1].abs()[flipped] + 1e-9).all())
    # reflection: the distance travelled along the axis is still |v|
    ends = torch.where(p[:, 1:] + p[:, :-1] <= room, p[:, 1:] + p[:, :-1], 2 * room - p[:, 1:] - p[:, :-1])
    assert torch.allclose(ends[flipped], v[:, :-1].abs()[flipped])


def test_frames_show_each_square_where_its_state_puts_it():
    frames, s = bouncing_squares(8, 6, size=12, squares=1, square_size=3, seed=1, return_states=True)
    mass = frames.sum(dim=(2, 3, 4))
    assert torch.allclose(mass, torch.full_like(mass, 9.0), atol=1e-4)  # area 3 x 3, anti-aliased
    rows, cols = torch.arange(12.0) + 0.5, torch.arange(12.0) + 0.5
    centre_r = (frames[:, :, 0].sum(3) * rows).sum(2) / mass
    centre_c = (frames[:, :, 0].sum(2) * cols).sum(2) / mass
    centre = s["position"][:, :, 0] + 1.5
    assert torch.allclose(centre_r.double(), centre[..., 0], atol=1e-4)
    assert torch.allclose(centre_c.double(), centre[..., 1], atol=1e-4)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="square_size"):
        bouncing_squares(2, 3, size=8, square_size=8)
    with pytest.raises(ValueError, match="speed"):
        bouncing_squares(2, 3, size=8, square_size=3, speed=(1.0, 5.0))
    with pytest.raises(ValueError, match="squares"):
        bouncing_squares(2, 3, squares=(2, 1))


def test_conv_lstm_beats_copying_the_last_frame_after_short_training():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks_family.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_tasks_family", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.train_next_frame(0, channels=8, kernel_size=3, steps=150, batch=16, lr=1e-2, n_train=256,
                               n_test=64, length=10, size=16)
    assert r["mse"] < 0.7 * r["copy_mse"], r
