"""Bundled fuse and charger profiles, installed as ``loadbalancer.profiles``."""
