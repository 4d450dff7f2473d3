"""`rnnzoo hopfield capacity` and `rnnzoo hopfield recall`: tables, pictures, one-line errors."""

import re

import pytest

from rnnzoo.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*args) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        return e.code


def test_capacity_prints_a_row_per_alpha_and_writes_the_plot(tmp_path, capsys):
    out = tmp_path / "plots" / "capacity.png"  # its folder does not exist yet
    assert cli("hopfield", "capacity", "--n", 80, "--rule", "hebbian", "storkey", "--alphas", "0.05,0.3",
               "--trials", 1, "--out", out) == 0
    text = capsys.readouterr().out
    assert out.read_bytes().startswith(PNG)
    rows = [line.split() for line in text.splitlines() if re.match(r"\s*0\.\d{3}\s", line)]
    assert [r[0] for r in rows] == ["0.050", "0.300"]
    assert [int(r[1]) for r in rows] == [4, 24]  # P = round(alpha N)
    assert re.search(r"alpha\s+P\s+hebbian\s+storkey", text)
    overlaps = {rule: [float(r[k]) for r in rows] for k, rule in ((2, "hebbian"), (3, "storkey"))}
    assert all(-1 <= m <= 1 for ms in overlaps.values() for m in ms)
    assert overlaps["hebbian"][0] > 0.95 > overlaps["hebbian"][1]  # below and well beyond the 0.138 knee
    assert "0.138" in text and f"plot: {out}" in text


def test_capacity_modern_and_pinv_and_the_default_file_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("hopfield", "capacity", "--n", 40, "--rule", "pinv", "--rule", "modern", "--alphas", 0.1, 0.5,
               "--trials", 1, "--seed", 3) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "hopfield_capacity.png").read_bytes().startswith(PNG)
    rows = [line.split() for line in text.splitlines() if re.match(r"\s*0\.\d{3}\s", line)]
    assert re.search(r"alpha\s+P\s+pinv\s+modern", text) and len(rows) == 2
    assert float(rows[0][2]) == 1.0 and all(-1 <= float(r[2]) <= 1 for r in rows)  # pinv
    assert all(float(r[3]) == 1.0 for r in rows)  # modern Hopfield: exponential capacity


def test_recall_writes_the_picture_and_says_which_were_recovered(tmp_path, capsys):
    out = tmp_path / "recall.png"
    assert cli("hopfield", "recall", "--chars", "HOPE", "--rule", "pinv", "--out", out) == 0
    text = capsys.readouterr().out
    assert out.read_bytes().startswith(PNG)
    rows = {line.split()[0]: line for line in text.splitlines() if re.match(r"[HOPE]\s", line)}
    assert sorted(rows) == ["E", "H", "O", "P"]
    assert all("recovered" in line for line in rows.values())
    done = re.search(r"recovered exactly: (\d)/4 from noisy cues, (\d)/4 from half-masked cues", text)
    assert done and int(done.group(1)) == 4  # 20% noise: pinv recovers every letter


def test_recall_from_a_folder_of_pngs(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from rnnzoo.memory import letters
    folder = tmp_path / "pics"
    folder.mkdir()
    for name, pic in zip("XYZ", letters("XYZ")):
        plt.imsave(folder / f"{name}.png", -pic.numpy(), cmap="gray")  # ink dark
    (folder / "notes.txt").write_text("not a picture")
    out = tmp_path / "recall.png"
    assert cli("hopfield", "recall", "--images", folder, "--rule", "storkey", "--flip", 0.05, "--out", out) == 0
    text = capsys.readouterr().out
    assert out.read_bytes().startswith(PNG)
    assert "3 picture(s)" in text and re.search(r"recovered exactly: \d/3", text)


def test_no_subcommand_prints_help(capsys):
    assert cli("hopfield") == 0
    assert "capacity" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["capacity", "--n", "1"], "--n: must be an integer from 2"),
    (["capacity", "--rule", "oja"], "invalid choice: 'oja'"),
    (["capacity", "--alphas", "0"], "must be in (0, 1]"),
    (["capacity", "--alphas", "0.1,1.5"], "must be in (0, 1]"),
    (["capacity", "--alphas", "abc"], "expected numbers"),
    (["capacity", "--n", "20", "--rule", "pinv", "--alphas", "1"], "pinv rule holds at most N - 1 = 19"),
    (["capacity", "--flip", "0.5"], "[0, 0.5)"),
    (["capacity", "--trials", "0"], "--trials"),
    (["recall", "--images", "NOWHERE"], "no such folder"),
    (["recall", "--images", "EMPTY"], "holds no .png file"),
    (["recall", "--chars", "AB!"], "no built-in picture for '!'"),
    (["recall", "--chars", "ABBA"], "repeats 'A', 'B'"),
    (["recall", "--chars", "AB", "--images", "EMPTY"], "not both"),
    (["recall", "--rule", "modern"], "invalid choice: 'modern'"),
])
def test_bad_arguments_give_one_line_errors(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "EMPTY" / "a.txt").write_text("x")
    args = [str(tmp_path / a) if a in ("NOWHERE", "EMPTY") else a for a in args]
    out = tmp_path / "x.png"
    assert cli("hopfield", *args, "--out", out) != 0
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


# one quick run of each subcommand: what --out is about, not the recall
QUICK = {"capacity": ["--n", "20", "--alphas", "0.1", "--trials", "1"], "recall": ["--chars", "HI"]}
PRINTED = {"capacity": "plot: ", "recall": "picture: "}


@pytest.mark.parametrize("sub", QUICK)
def test_out_naming_a_folder_is_refused_before_the_work_and_writes_nothing(tmp_path, capsys, sub):
    """savefig would have written FOLDER.png beside the folder while the command printed FOLDER."""
    folder = tmp_path / "plots"
    folder.mkdir()
    for out in (folder, f"{folder}/", f"{tmp_path}/new/"):  # an existing folder; any path ending in /
        assert cli("hopfield", sub, *QUICK[sub], "--out", out) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith("rnnzoo: error: --out ") and "is a folder; give a file name" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"] and not any(folder.iterdir())


@pytest.mark.parametrize("sub", QUICK)
def test_out_without_extension_prints_the_file_really_written(tmp_path, capsys, sub):
    out = tmp_path / "figure"
    assert cli("hopfield", sub, *QUICK[sub], "--out", out) == 0
    assert (tmp_path / "figure.png").read_bytes().startswith(PNG) and not out.exists()
    assert f"{PRINTED[sub]}{out}.png\n" in capsys.readouterr().out


@pytest.mark.parametrize("sub", QUICK)
def test_out_in_a_format_matplotlib_cannot_write_is_refused_before_the_work(tmp_path, capsys, sub):
    assert cli("hopfield", sub, *QUICK[sub], "--out", tmp_path / "figure.txt") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot write .txt files; use one of" in captured.err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("sub, work, args", [
    ("capacity", "capacity_sweep", ["--n", 40, "--alphas", 0.1, "--trials", 1]),
    ("recall", "recall_demo", ["--chars", "AB"]),
])
def test_threads_auto_gives_the_update_loops_one_thread_and_a_number_is_obeyed(tmp_path, monkeypatch, sub, work,
                                                                               args):
    import torch

    from rnnzoo import memory
    seen, real = [], getattr(memory, work)

    def watched(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)
    monkeypatch.setattr(memory, work, watched)
    torch.set_num_threads(2)
    assert cli("hopfield", sub, *args, "--out", tmp_path / "a.png") == 0
    assert cli("hopfield", sub, *args, "--threads", 3, "--out", tmp_path / "b.png") == 0
    assert seen == [1, 3] and torch.get_num_threads() == 2
