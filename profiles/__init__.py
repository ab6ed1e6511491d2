"""Bundled fuse and charger profiles, installed as ``loadbalancer.profiles``.

A regular package (not a namespace) so that editable installs find it: the editable finder
only maps a nested package that has an ``__init__.py``.
"""
