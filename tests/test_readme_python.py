"""The README's "From Python" section runs as written: every ```python block, in order, in one namespace."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np

import nnkeras

from conftest import REPO


def python_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_section_runs(tmp_path, monkeypatch):
    blocks = python_blocks()
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # its runs land in ./runs, as a user's would
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        assert printed.getvalue().strip(), f"block {number} printed nothing"
    # What the comments promise, checked on the values the blocks made.
    assert namespace["result"].metrics["test_accuracy"] > 0.5
    assert (namespace["probabilities"].argmax(axis=1) == namespace["labels"][:8]).mean() >= 0.5
    assert np.allclose(namespace["probabilities"].sum(axis=1), 1.0)
    survival = namespace["survival"]
    assert survival.shape == (2,) and survival[0] > survival[1]  # first class woman vs third class man
    titanic = nnkeras.open_run(namespace["titanic"].run_dir)
    rows = namespace["passengers"].to_dict("records")  # a list of dicts, as JSON would bring them
    assert np.allclose(titanic.predict(rows), titanic.predict(namespace["passengers"]))
    assert set(namespace["table"]["experiment"]) == {"mnist_mlp", "titanic_wide_deep"}
    assert np.allclose(namespace["neuron"].forward(namespace["x"]).ravel().round(), [0, 0, 0, 1])
    assert namespace["history"][-1]["val_accuracy"] > 0.8


def test_predict_takes_a_list_of_dicts_and_refuses_bad_shapes_in_one_line(tmp_path, monkeypatch):
    import pytest

    monkeypatch.chdir(tmp_path)
    (result,) = nnkeras.run("mnist_mlp", ["data.name=synthetic", "data.shape=6,6,1", "data.num_classes=3",
                                          "data.size=200", "model.hidden=8"], smoke=True)
    run = nnkeras.open_run(result.run_dir)
    one = run.predict(np.zeros((6, 6)))
    assert one.shape == (1, 3)
    for bad, message in ((np.zeros((5, 5)), "this model takes (6, 6, 1)"), ([[np.nan] * 6] * 6, "NaN"),
                         ("abc", "not numbers")):
        with pytest.raises(nnkeras.NNKerasError, match=re.escape(message)) as info:
            run.predict(bad)
        assert "\n" not in str(info.value)
