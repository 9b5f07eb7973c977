"""`training.weights: imagenet` on a machine without network: the workflow uses the weight files found in
its own resources/<dataset>/keras (KERAS_HOME), for the configured input size, whatever the user's KERAS_HOME says.

The weight files are planted by the test (a ``weights=None`` base saved under the exact upstream file name
Keras looks for). Keras verifies a file's hash only where its application passes ``file_hash``;
MobileNetV2 passes none, so a planted file is accepted as it is, while a planted VGG16 file would be
rejected and downloaded again. MobileNetV2 is also the architecture with one weight file per input side
(96 to 224 px), so the test trains at 96 px, whose file differs from the 224 px default.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from astrotune.models.schedules import ARCHITECTURES
from astrotune.models.zoo import build_base, load_model

from workflow_helpers import SNAKEMAKE, copy_project

pytestmark = pytest.mark.slow

SIZE = 96
CONFIG = {
    "seed": 3,
    "dataset": {"name": "offline", "source": "synthetic", "image_size": SIZE},
    "synthetic": {"n_objects": 24, "size": 32, "class_fractions": {"GALAXY": 0.4, "STAR": 0.4, "QSO": 0.2}},
    "split": {"val_fraction": 0.3},
    "training": {"weights": "imagenet", "epochs": 1, "batch_size": 8},
    "architectures": {"MobileNetV2": [0]},
}
MODEL = "results/offline/models/MobileNetV2/L0/model.keras"

# Imported first by every Python process started with this folder on PYTHONPATH: no internet sockets.
BLOCK_NETWORK = textwrap.dedent("""
    import socket

    def _blocked(*args, **kwargs):
        raise OSError("network blocked by the astrotune offline test")

    _connect = socket.socket.connect

    def _connect_local_only(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _blocked()
        return _connect(self, address)

    socket.socket.connect = _connect_local_only
    socket.socket.connect_ex = lambda self, address: _connect_local_only(self, address)
    socket.getaddrinfo = _blocked
""")


def offline_env(tmp_path):
    blocker = tmp_path / "offline"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_NETWORK)
    users_keras = tmp_path / "users_keras_home"  # empty: a job that reads it must download, and fails
    users_keras.mkdir()
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")])),
            "KERAS_HOME": str(users_keras)}


def test_imagenet_weights_come_from_the_workflow_keras_home_offline(tmp_path):
    env = offline_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen('https://example.org')"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "network blocked" in probe.stderr

    workdir = copy_project(tmp_path / "project", CONFIG)
    planted = build_base("MobileNetV2", (SIZE, SIZE, 3), "none")
    target = workdir / "resources" / "offline" / "keras" / "models" / ARCHITECTURES["MobileNetV2"].imagenet_file.format(rows=SIZE)
    target.parent.mkdir(parents=True)
    planted.save(target)  # legacy HDF5, as upstream: load_weights reads a ".h5" name in that format

    result = subprocess.run([*SNAKEMAKE, "--cores", "2", MODEL], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    model = load_model(workdir / MODEL)  # L0: the base stays frozen, so it must hold the planted weights
    base = next(layer for layer in model.layers if layer.name == planted.name)
    for trained, original in zip(base.get_weights(), planted.get_weights(), strict=True):
        np.testing.assert_array_equal(trained, original)
