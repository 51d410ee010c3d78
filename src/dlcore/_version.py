# The one place dlcore's version is written. pyproject.toml reads it (scikit-build-core's regex
# metadata provider), CMakeLists.txt parses it for project(VERSION) and dl_version(), and
# dlcore.__version__ is this string. PEP 440, in normalised form (e.g. "0.2.0", "0.2.0rc1").
__version__ = "0.1.0"
