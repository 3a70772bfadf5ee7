"""Packaging: what an analysis command imports, what pyproject.toml declares, what .ci/run does."""

import importlib.metadata
import os
import stat
import subprocess
import sys
import textwrap
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
    PYPROJECT = tomllib.load(fh)
PROJECT = PYPROJECT["project"]
DEPENDENCIES = {Requirement(r).name.lower(): Requirement(r) for r in PROJECT["dependencies"]}

# Heavy or optional modules that `summary`, `shapes`, `params` and `flops` must never load: the
# trainer's (numba, numpy), predict's (PIL), data fetch's (platformdirs), the trainer's BLAS
# control (threadpoolctl), the conv layers' BLAS (scipy), and typer ≥ 0.29's pydantic.
FORBIDDEN = ("numba", "numpy", "PIL", "platformdirs", "threadpoolctl", "scipy", "pydantic")


def imported_modules(*args):
    """Top-level names of every module imported by `cnncalc ARGS` run as the console script runs it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    entry = "import sys; from cnncalc.cli import main; sys.argv[0] = 'cnncalc'; sys.exit(main())"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", entry, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return result, names


def test_an_analysis_command_imports_none_of_the_heavy_modules():
    result, names = imported_modules("summary", "specs/lenet5.yaml")
    assert "lenet5" in result.stdout
    # the parse found the imports it must find, so an empty set cannot pass
    assert {"cnncalc", "typer", "yaml"} <= names, sorted(names)
    assert sorted(names & set(FORBIDDEN)) == []


def test_python_floor():
    assert PROJECT["requires-python"] == ">=3.11"
    assert sys.version_info >= (3, 11)


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    assert PROJECT["license"] == "MIT"
    build = {Requirement(r).name: Requirement(r) for r in PYPROJECT["build-system"]["requires"]}
    # PEP 639's `license = "MIT"` is read by setuptools 77 and later
    assert build["setuptools"].specifier.contains("77") and not build["setuptools"].specifier.contains("76.1")


def floor(requirement):
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    assert len(floors) == 1, requirement
    return floors[0]


def test_typer_is_held_between_0_28_and_0_29():
    typer = DEPENDENCIES["typer"]
    # 0.27 drops the arguments' descriptions from --help; 0.29 imports pydantic on every start
    assert floor(typer) == Version("0.28")
    assert not typer.specifier.contains("0.27.9") and typer.specifier.contains("0.28.5")
    assert not typer.specifier.contains("0.29.0")


@pytest.mark.parametrize("name", sorted(DEPENDENCIES))
def test_installed_versions_satisfy_the_declared_ranges(name):
    assert DEPENDENCIES[name].specifier.contains(importlib.metadata.version(name)), name


@pytest.mark.parametrize("package", ["typer", "numba"])
def test_our_floors_are_not_below_what_our_dependencies_require(package):
    """typer needs rich ≥ 13.8 and numba its numpy range: a floor of ours below theirs is a lie."""
    for text in importlib.metadata.requires(package) or []:
        need = Requirement(text)
        if need.marker is not None or need.name.lower() not in DEPENDENCIES:
            continue
        theirs = [Version(s.version) for s in need.specifier if s.operator == ">="]
        if theirs:
            assert floor(DEPENDENCIES[need.name.lower()]) >= max(theirs), (package, text)


def test_ruff_rules_include_pyflakes_and_unused_arguments():
    select = PYPROJECT["tool"]["ruff"]["lint"]["select"]
    assert "F" in select and "ARG" in select
    assert "ruff" in {Requirement(r).name for r in PROJECT["optional-dependencies"]["test"]}


# ------------------------------------------------------------------ .ci/run against stand-in tools

def run_ci(tmp_path, pytest_status, ruff_status=0):
    """.ci/run with `python` and `cnncalc` replaced by scripts that log their arguments and exit
    with the given statuses: pip 0, pytest `pytest_status`, ruff `ruff_status`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    scripts = {
        "python": f"""\
            echo "python $*" >> {log}
            case "$2" in
                pytest) exit {pytest_status} ;;
                ruff) exit {ruff_status} ;;
            esac
            exit 0
            """,
        "cnncalc": f'echo "cnncalc $*" >> {log}\n',
        "apt-get": f'echo "apt-get $*" >> {tmp_path / "apt-log"}\n',  # never the real one
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run(["bash", os.path.join(ROOT, ".ci", "run")], env=env, capture_output=True, text=True,
                            timeout=60)
    return result, log.read_text().splitlines()


def test_ci_runs_the_readme_commands_then_ruff(tmp_path):
    result, log = run_ci(tmp_path, 0)
    assert result.returncode == 0, result.stderr
    assert log == ["python -m pip install torch==2.13.0",
                   "python -m pip install pillow torchvision==0.28.0 --no-deps",
                   "python -m pip install torchinfo ptflops fvcore thop",
                   "python -m pip install onnx onnxruntime",
                   "python -m pip install -e .",
                   "cnncalc summary specs/lenet5.yaml",
                   "python -m pip install -e .[test]",
                   "python -m pytest -q",
                   "python -m ruff check cnncalc tests benchmarks"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="CI asks apt-get as root or with sudo")
def test_ci_installs_chromium_with_apt_get_where_it_can(tmp_path):
    result, _ = run_ci(tmp_path, 0)
    assert result.returncode == 0, result.stderr
    apt = (tmp_path / "apt-log").read_text().splitlines()
    assert apt == ["apt-get update -qq", "apt-get install -y -qq chromium chromium-driver"]


def test_ci_fails_when_pytest_collects_nothing(tmp_path):
    result, _ = run_ci(tmp_path, 5)
    assert result.returncode == 1
    assert "collected no tests" in result.stderr


@pytest.mark.parametrize("pytest_status, ruff_status, expected", [(1, 0, 1), (2, 0, 2), (0, 1, 1), (1, 1, 1)])
def test_ci_fails_on_failing_tests_or_lint(tmp_path, pytest_status, ruff_status, expected):
    result, log = run_ci(tmp_path, pytest_status, ruff_status)
    assert result.returncode == expected
    assert log[-1] == "python -m ruff check cnncalc tests benchmarks"  # lint runs even after failing tests
