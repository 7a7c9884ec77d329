"""Route controllers, mounted identically under ``/api/v3`` and ``/api/v4``.

Add each controller (a :class:`litestar.Controller` subclass, or a route handler) to
:data:`CONTROLLERS`; :func:`cleanapp_api.app.create_app` mounts the list under both prefixes
with :func:`cleanapp_api.app.api_routers`. Paths inside a controller are relative to the
prefix (``path = "/cases"``), exactly as in the upstream route table.
"""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from cleanapp_api.routes.cases import CasesController
from cleanapp_api.routes.clusters import ClustersController
from cleanapp_api.routes.escalations import EscalationsController
from cleanapp_api.routes.group_suggestions import GroupSuggestionsController
from cleanapp_api.routes.memo import MemoController
from cleanapp_api.routes.reports import ReportsController
from cleanapp_api.routes.routing import ExecutionTasksController, ReportContactStrategyController
from cleanapp_api.routes.suggestions import SuggestionsController

__all__ = ["CONTROLLERS"]

CONTROLLERS: list[ControllerRouterHandler] = [
    ClustersController,
    CasesController,
    ReportsController,
    EscalationsController,
    ExecutionTasksController,
    ReportContactStrategyController,
    MemoController,
    SuggestionsController,
    GroupSuggestionsController,
]
