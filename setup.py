"""Every module in jobs/ installs as a top-level module, so `luigi --module NAME` finds it
from any directory. (Setuptools reads the rest of the project from pyproject.toml.)"""

from pathlib import Path

from setuptools import setup

setup(py_modules=sorted(path.stem for path in Path(__file__).parent.glob("jobs/*.py")))
