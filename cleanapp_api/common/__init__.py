"""Small pieces both services share; each service imports these, never the other's modules.

* :mod:`~cleanapp_api.common.env` -- reading and validating environment variables.
* :mod:`~cleanapp_api.common.http_errors` -- the ``{"error": "..."}`` answers of HTTP,
  validation, database and unexpected errors.
* :mod:`~cleanapp_api.common.timefmt` -- timestamps as Go writes them on the wire.
"""
