"""Greenroom's application shell: the settings object and the ``greenroom`` command line.

This is the composition root: it reads settings once and wires the packages
together; no package below it reads the environment.
"""

__version__ = "0.1.0"
