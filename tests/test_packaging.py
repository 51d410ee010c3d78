"""Version and metadata: one version source (src/dlcore/_version.py) for the Python metadata,
dlcore.__version__ and the C library's dl_version()."""
import importlib.metadata
import re

import dlcore
from dlcore import _kernels

# PEP 440 public versions in normalised form (what the metadata holds).
_PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def test_version_has_one_source():
    v = dlcore.__version__
    assert _PEP440.match(v), v
    assert importlib.metadata.version("dlcore") == v  # pyproject reads _version.py
    assert _kernels.version() == v  # CMake parses the same file for dl_version()


def test_distribution_metadata():
    md = importlib.metadata.metadata("dlcore")
    assert md["Name"] == "dlcore"
    license_text = md.get("License-Expression") or md.get("License") or ""
    assert license_text == "MIT"
    assert "Deep Learning from Scratch" in (md.get_payload() or md.get("Description") or "")
    classifiers = md.get_all("Classifier") or []
    assert "Programming Language :: C" in classifiers
    assert any(c.startswith("Topic :: Scientific/Engineering") for c in classifiers)
    requires = " ".join(md.get_all("Requires-Dist") or [])
    assert "scipy-openblas32" in requires and "numpy" in requires
