"""Capacity tariffs (issue 15): profiles, the Europe/Stockholm interval calendar, the month's
billed peaks, interval energy from the meter's import register, and the persisted month state.

Nothing here is imported unless a site file has a ``tariff:`` section; the ``holidays``
library (the optional extra ``tariff``) is imported only when a profile names a country.
"""
