"""Use cases of the service: each runs one unit of work (a read or one transaction).

Handlers in :mod:`cleanapp_api.routes` parse the request and call one function here on a
worker thread; these functions validate, call :mod:`cleanapp_geo` for the computation and
:mod:`cleanapp_api.db.repositories` for the SQL, and return wire Structs.

* :mod:`~cleanapp_api.services.clusters` -- scope analysis and candidate-case matching.
* :mod:`~cleanapp_api.services.cases` -- create/attach, add reports, status, merge, reads.
* :mod:`~cleanapp_api.services.targets` -- escalation-target suggestion (escalation issue).
"""
