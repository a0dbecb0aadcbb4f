"""Store routes: a store key (bound to one store) or an ops key. POST /stores/{store_id}/uploads
answers a presigned S3 PUT for a sales file; GET /stores/{store_id}/files pages the store's reports."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from chalice import Blueprint, Response
from pydantic import ConfigDict, Field

from chalicelib.api.http import caller_role, endpoints, error_response
from chalicelib.api.models import Body
from chalicelib.api.routes import bearer_key

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)
STORE = "store"
# Documents the naming rule; services/uploads.py checks it (a real date, ASCII only).
FILE_NAME_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(-[A-Za-z0-9._\-]{1,64})?\.csv(\.gz)?$"


class UploadRequest(Body):
    # Not stripped: the name becomes the S3 key as sent, or is refused.
    model_config = ConfigDict(str_strip_whitespace=False)

    file_name: Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": FILE_NAME_PATTERN})]


class StoreFilesQuery(Body):
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[str, Field(max_length=2000)] | None = None


def own_store_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """A store key reaches only its own store's routes (403 before anything is read); ops keys and
    the role check itself are left to `endpoint`."""

    @functools.wraps(view)  # keeps `api_doc` for the OpenAPI document
    def run(*args: Any, **kwargs: Any) -> Response:
        request = blueprint.current_request
        context = request.context.get("authorizer") or {}
        if caller_role(request) == STORE and context.get("store_id") != kwargs.get("store_id"):
            return error_response(403, "forbidden", "this key belongs to another store")
        return view(*args, **kwargs)

    return run


@blueprint.route("/stores/{store_id}/uploads", methods=["POST"], authorizer=bearer_key)
@own_store_only
@endpoint(role=STORE, status=201, body=UploadRequest)
def create_upload(store_id: str, body: UploadRequest) -> dict[str, Any]:
    """A presigned S3 PUT URL for a sales file of this store (`incoming/<store_id>/<file_name>`),
    valid 15 minutes; a plain HTTP PUT of the file starts the normal ingestion."""
    from chalicelib.services import uploads  # here, not at import: `import app` stays quick

    return uploads.create_upload(store_id, body.file_name)


@blueprint.route("/stores/{store_id}/files", methods=["GET"], authorizer=bearer_key)
@own_store_only
@endpoint(role=STORE, query=StoreFilesQuery)
def store_files(store_id: str, query: StoreFilesQuery) -> dict[str, Any]:
    """The store's sales-file reports, newest first, paged with an opaque signed cursor."""
    from chalicelib.services import uploads

    return uploads.store_files(store_id, query.limit, query.cursor)
