"""Detectors: turn media or text into signals (faces, likeness, characters, ages, nudity, provenance, prompt text, hashes).

Imports nothing else of Greenroom's: a detector never knows about policies,
the store or the server.
"""

from detectors.torch_compat import install_import_hook as _install_torch_hook

_install_torch_hook()
