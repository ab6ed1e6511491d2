"""Bundled example site, captures and scenarios, installed as ``loadbalancer.examples``."""
