"""Escalation of cases: drafts, the send flow and the email-service client.

* :mod:`cleanapp_geo.drafts` (the library) -- pure drafting: locale choice, the localised
  upstream texts, evidence, HTML.
* :mod:`~cleanapp_api.escalation.service` -- the use cases behind
  ``GET /cases/{id}/escalations``, ``POST .../draft`` and ``POST .../send``.
"""
