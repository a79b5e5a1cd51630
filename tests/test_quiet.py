"""TensorFlow's start-up notices and retracing warnings stay off the console (nnkeras.quiet)."""

import re
import os
import subprocess
import sys

import pytest

from conftest import REPO
from nnkeras.quiet import without_notices

# What TensorFlow 2.21 writes at import in a fresh process, whatever TF_CPP_MIN_LOG_LEVEL says.
IMPORT_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796205983.198666    9775 port.cc:153] oneDNN custom operations are on. You may see slightly"
    " different numerical results due to floating-point round-off errors.\n"
    "I0000 00:00:1796206275.667940   11009 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.\n"
)


def test_notices_are_dropped_and_errors_kept():
    error = "E0000 00:00:1796205983.198666    9775 cuda.cc:12] failed to load a library\n"
    warning = "/x/keras/src/foo.py:12: UserWarning: something a user should see\n"
    assert without_notices(IMPORT_NOISE) == ""
    assert without_notices(IMPORT_NOISE + error + warning + IMPORT_NOISE) == error + warning


def fresh_python(code: str) -> str:
    """stderr of `code` in a new process, with the environment a user's shell has (no TF_CPP_MIN_LOG_LEVEL)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


RETRACE = """
for i in range(8):  # eight models one after another, as a group of variants trains them
    step = tf.function(lambda x: x + 1)
    step(tf.constant([1.0] * (i + 1)))
"""


def test_tensorflow_imported_through_quiet_writes_nothing_to_stderr():
    plain = fresh_python("import tensorflow as tf\n" + RETRACE)
    assert re.search(r"^I\d{4} ", plain, re.M) and "triggered tf.function retracing" in plain  # the noise
    # ... and without the scikit-learn that Keras would import for its wrappers; imported later, it loads as usual.
    without_sklearn = "import sys\nassert 'sklearn' not in sys.modules\nimport sklearn.base\n"
    assert fresh_python("from nnkeras.quiet import import_tensorflow\ntf = import_tensorflow()\n" + RETRACE
                        + without_sklearn) == ""


BAYESIAN = """
import sys
from nnkeras.quiet import import_tensorflow
tf = import_tensorflow()
from nnkeras.tuning import jobs
from nnkeras.tuning.tuner import make_oracle
assert 'sklearn' not in sys.modules and 'scipy.optimize' not in sys.modules, 'Keras Tuner imported them'
job = jobs.prepare(jobs.load_job('mnist_mlp'), [], tuner='bayesian')
oracle = make_oracle(job, 'bayesian')
oracle._make_gpr()  # the Gaussian process needs scikit-learn
from keras_tuner.src.tuners import bayesian
assert bayesian.scipy.optimize.minimize
"""


def test_keras_tuner_comes_without_scikit_learn_and_scipy_until_the_bayesian_tuner_asks():
    assert fresh_python(BAYESIAN) == ""


GROUP = '''
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENTS = [Experiment(f"v{i}", data=DataConfig(name="synthetic", shape=(4,), num_classes=2, size=120),
                          model=ModelConfig(params={"hidden": (4 + i,)}), train=TrainConfig(epochs=1))
               for i in range(6)]
'''


@pytest.mark.slow
def test_nnkeras_run_of_a_group_keeps_stderr_empty(tmp_path):
    # Six models one after another: without nnkeras.quiet, TensorFlow's import notices and
    # "triggered tf.function retracing" warnings land on stderr here.
    (tmp_path / "group.py").write_text(GROUP)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "nnkeras", "run", str(tmp_path / "group.py"), "--runs-dir",
                           str(tmp_path / "runs")], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count("test accuracy:") == 6


def test_the_cuda_builds_no_gpu_line_is_dropped_but_other_errors_stay():
    cuda = ("E0000 00:00:1796229618.273794   24671 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error:"
            " Failed call to cuInit: UNKNOWN ERROR (303)\n")
    other = "E0000 00:00:1796229618.3   24671 op_kernel.cc:1] something real went wrong\n"
    assert without_notices(cuda + other) == other
