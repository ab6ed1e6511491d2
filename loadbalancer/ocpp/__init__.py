"""OCPP 1.6J chargers: the second implementation of the
:class:`~loadbalancer.chargers.charger.Charger` protocol, beside Modbus TCP.

The charge point is the WebSocket client and this service its central system
(:mod:`loadbalancer.ocpp.central`); each charger's limit is a charging profile
(:mod:`loadbalancer.ocpp.charger`). The site keys and the profiles
(:mod:`loadbalancer.ocpp.site`, :mod:`loadbalancer.ocpp.profile`) import nothing of the ``ocpp``
and ``websockets`` libraries (the ``ocpp`` extra): a site without an OCPP charger never loads them.
"""
