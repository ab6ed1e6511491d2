"""Bundled OCPP 1.6J charger profiles, installed as ``loadbalancer.profiles.ocpp``."""
