"""A spec's name and file names are free text: they never steer where a run is written, and they
never reach the terminal raw (a newline would split a line, an ESC sequence would drive it)."""

import io
import os

import pytest
from rich.console import Console

from cnncalc.render.training import Printer
from test_runs import NET, make_data

from cnncalc.engine import api
from cnncalc.render import training as view

HOSTILE = "../../escape\nname\x1b[31m/x"


def test_a_spec_name_cannot_move_the_default_run_directory(tmp_path, monkeypatch):
    # bug: runs/NAME-TIME built from the raw name: '../..' leaves runs/, '/' makes folders, '\n' a name
    monkeypatch.chdir(tmp_path)
    # YAML's double quotes read \n as a newline and \e as ESC: the name is HOSTILE exactly
    (tmp_path / "net.yaml").write_text(NET.replace("name: t", 'name: "../../escape\\nname\\e[31m/x"'))
    from cnncalc import api as front

    assert front.report(str(tmp_path / "net.yaml")).graph.name == HOSTILE
    out = io.StringIO()
    api.train_run("net.yaml", data=make_data(tmp_path), epochs=1, batch_size=32, seed=1,
                  on_event=Printer(Console(file=out, width=80, force_terminal=False)))
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 1
    folder = runs[0]
    assert folder.startswith("escape_name_") and all(c.isalnum() or c in "._-" for c in folder), folder
    assert (tmp_path / "runs" / folder / "last.npz").is_file()
    assert not (tmp_path.parent.parent / "escape").exists() and not list(tmp_path.rglob("x-*"))
    printed = out.getvalue()
    assert "\x1b" not in printed and "\\x1b" in printed  # the name is shown, escaped


@pytest.mark.parametrize("name, folder", [("lenet", "lenet"), ("a/b", "a_b"), ("..", "run"), ("", "run"),
                                          ("résumé net", "r_sum_net"), (".hidden", "hidden")])
def test_folder_names_from_spec_names(name, folder):
    assert api._folder_name(name) == folder


def test_the_training_view_escapes_control_characters():
    out = io.StringIO()
    view.note(Console(file=out, width=80), "data from a\nb\x1b[2J.npz")
    assert out.getvalue() == "note: data from a\\nb\\x1b[2J.npz\n"
