"""Sales-file reports for ops: GET /files?date=&store_id= and GET /files/{file_id}."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import endpoints
from chalicelib.api.models import Body
from chalicelib.api.routes import OPS, bearer_key
from chalicelib.ingest.names import STORE_ID_PATTERN

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)


class FilesQuery(Body):
    date: dt.date  # the date in the file's key (incoming/<store_id>/<date>...)
    store_id: Annotated[str, Field(pattern=f"^{STORE_ID_PATTERN}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 100


@blueprint.route("/files", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS, query=FilesQuery)
def list_files(query: FilesQuery) -> dict[str, Any]:
    """The sales files of a day (the date in their key), optionally of one store, with their reports."""
    from chalicelib.services.sales_files import reports  # here, not at import: `import app` stays quick

    return reports.file_reports(query.date.isoformat(), query.store_id, query.limit)


@blueprint.route("/files/{file_id}", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS)
def get_file(file_id: str) -> dict[str, Any]:
    """One sales file's report (docs/sales-files.md); status `running` while its chunks are applied."""
    from chalicelib.services.sales_files import reports

    return reports.file_report(file_id)
