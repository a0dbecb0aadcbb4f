"""Sales-file reports for ops: GET /files?date=&store_id=, GET /files?store_id= (a store's files,
newest first, paged: the listing of GET /stores/{store_id}/files) and GET /files/{file_id}."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from chalice import Blueprint
from pydantic import Field, model_validator

from chalicelib.api.http import endpoints
from chalicelib.api.models import Body
from chalicelib.api.routes import OPS, bearer_key
from chalicelib.domain.errors import InvalidRequest
from chalicelib.ingest.names import STORE_ID_PATTERN

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)


DAY_LIMIT, STORE_PAGE = 100, 25  # the default `limit` with and without `date`


class FilesQuery(Body):
    date: dt.date | None = None  # the date in the file's key (incoming/<store_id>/<date>...)
    store_id: Annotated[str, Field(pattern=f"^{STORE_ID_PATTERN}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    cursor: Annotated[str, Field(max_length=2000)] | None = None  # without `date`: the next page

    @model_validator(mode="after")
    def _day_or_store(self) -> FilesQuery:
        if self.date is None and self.store_id is None:
            detail = {"field": "store_id", "message": "required without date"}
            raise InvalidRequest("give date, store_id or both", [detail])
        if self.date is not None and self.cursor is not None:
            raise InvalidRequest("a day's files have no pages", [{"field": "cursor", "message": "only without date"}])
        return self


@blueprint.route("/files", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS, query=FilesQuery)
def list_files(query: FilesQuery) -> dict[str, Any]:
    """The sales files of a day (the date in their key), optionally of one store, with their reports;
    without `date`, the files of `store_id`, newest first, paged with an opaque signed cursor."""
    if query.date is None:
        from chalicelib.services import uploads  # here, not at import: `import app` stays quick

        assert query.store_id is not None  # the query's rule
        return uploads.store_files(query.store_id, query.limit or STORE_PAGE, query.cursor)
    from chalicelib.services.sales_files import reports

    return reports.file_reports(query.date.isoformat(), query.store_id, query.limit or DAY_LIMIT)


@blueprint.route("/files/{file_id}", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS)
def get_file(file_id: str) -> dict[str, Any]:
    """One sales file's report (docs/sales-files.md); status `running` while its chunks are applied."""
    from chalicelib.services.sales_files import reports

    return reports.file_report(file_id)
