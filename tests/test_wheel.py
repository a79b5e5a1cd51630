"""The built wheel works on its own: installed (not editable) into a new venv, run outside the checkout.

Without setup.cfg's package_dir mapping the wheel carried no experiments or tuning
jobs, and `nnkeras list` from any other folder showed none ("known: none found").

The new venv gets the wheel alone (--no-deps, offline); its dependencies come from
the venv running the tests through a .pth line naming that venv's site-packages.
A plain path line adds the folder without running its .pth files, so the editable
finder of the checkout's nnkeras stays out and the wheel's copy is the one imported.
"""

import configparser
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
slow = pytest.mark.slow


def run(cmd, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_setup_cfg_lists_every_sub_package_of_nnkeras():
    """setup.cfg lists the packages (package_dir needs it), so a new sub-package must be added there."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nnkeras").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [options] packages in setup.cfg"


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A new venv holding the freshly built nnkeras wheel and nothing else of nnkeras."""
    base = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(base / "dist"), str(ROOT)], cwd=base)
    wheel, = (base / "dist").glob("nnkeras-*.whl")
    run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], cwd=base)
    python = base / "venv" / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base)
    Path(site.strip(), "nnkeras_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)], cwd=base)
    return base / "venv" / "bin"


@slow
def test_the_installed_nnkeras_is_the_wheel_not_the_checkout(venv, tmp_path):
    where = run([str(venv / "python"), "-c", "import nnkeras; print(nnkeras.__file__)"], cwd=tmp_path)
    assert str(venv.parent) in where and str(ROOT) not in where


@slow
def test_list_shows_the_shipped_experiments_and_jobs(venv, tmp_path):
    out = run([str(venv / "nnkeras"), "new", "my_mlp"], cwd=tmp_path)
    assert (tmp_path / "experiments" / "my_mlp.py").is_file()
    out = run([str(venv / "nnkeras"), "list"], cwd=tmp_path)
    assert "  my_mlp " in out
    for experiment in (ROOT / "experiments").glob("[!_]*.py"):
        assert f"  {experiment.stem} " in out


@slow
def test_run_and_tune_a_shipped_experiment_from_an_empty_folder(venv, tmp_path):
    quick = ["--set", "data.name=mnist_sample", "--set", "train.epochs=1"]
    out = run([str(venv / "nnkeras"), "run", "mnist_mlp", *quick], cwd=tmp_path)
    assert "test accuracy:" in out
    assert list((tmp_path / "runs" / "mnist_mlp").glob("*/metrics.json"))
    out = run([str(venv / "nnkeras"), "tune", "mnist_mlp", "--max-trials", "1", *quick], cwd=tmp_path)
    assert "trials: 1 completed, 0 failed" in out
    assert (tmp_path / "runs" / "search" / "mnist_mlp" / "random" / "trials.csv").is_file()


@slow
def test_a_file_of_the_users_own_folder_comes_first(venv, tmp_path):
    shipped = (ROOT / "experiments" / "mnist_mlp.py").read_text()
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "mnist_mlp.py").write_text(
        shipped.replace('"""', '"""Mine: ', 1))
    out = run([str(venv / "nnkeras"), "list"], cwd=tmp_path)
    assert "Mine: MNIST with a 784-30-10 MLP" in out
