"""The live status over HTTP (issue 16): ``/``, ``/livez``, ``/readyz``, ``/status``,
``/events``, ``/metrics``; read-only, off by default.

Only :mod:`loadbalancer.http.settings` is imported by a site without an ``http`` section (to
read it); the server (:mod:`loadbalancer.http.server`: asyncio streams with h11, and
prometheus-client) is imported by the service only when the section is there.
"""
