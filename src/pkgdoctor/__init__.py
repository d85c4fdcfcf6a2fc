"""pkgdoctor: find out why a Python environment is broken, and how to fix it."""

__version__ = "0.1.0.dev0"
