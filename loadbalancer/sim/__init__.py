"""Closed-loop simulation: the real service against emulated meters and chargers on loopback."""
