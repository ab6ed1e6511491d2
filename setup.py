"""Which packages the distribution holds: found, not listed by hand (pyproject.toml has the rest).

The code is every package under ``loadbalancer/``. ``profiles/`` and ``examples/`` live at the
top of the repository and are shipped inside the package as ``loadbalancer.profiles``
and ``loadbalancer.examples``; their data folders count as (namespace) packages too, so that
setuptools ships them without warnings.
"""

import warnings

from setuptools import find_namespace_packages, find_packages, setup

# `pip install -e .` (the Makefile's) maps profiles/ and examples/ into the package on purpose;
# setuptools' note that mapped folders may shadow imports says nothing to act on here.
warnings.filterwarnings("ignore", message=r"Editable installation\.")

DATA = ("profiles", "examples")
code = find_packages(include=["loadbalancer", "loadbalancer.*"])
data = find_namespace_packages(
    include=[f"{top}{rest}" for top in DATA for rest in ("", ".*")], exclude=["*.__pycache__"]
)
setup(
    packages=code + [f"loadbalancer.{name}" for name in data],
    package_dir={f"loadbalancer.{top}": top for top in DATA},
)
