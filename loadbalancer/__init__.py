"""loadbalancer: keeps the main fuse whole while electric cars charge as fast as it allows."""

__version__ = "0.1.0"
