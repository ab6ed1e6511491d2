"""MQTT and Home Assistant (issue 17): the service's state as retained topics, the Home
Assistant discovery of one device per site, and the few settings the site file lets a command
change. Only a site with an ``mqtt:`` section imports this package's client (and through it the
MQTT library); the control loop never waits on the broker.
"""
