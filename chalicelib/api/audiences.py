"""Audiences (ops): GET /audiences pages the members of a segment, POST /audiences/exports writes
the whole audience as CSV to the bucket. Member ids, segment, tier and last purchase day only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, field_validator

from chalicelib.api.http import endpoints
from chalicelib.api.models import Body
from chalicelib.api.routes import OPS, bearer_key
from chalicelib.domain.segments import NAMES
from chalicelib.ingest.names import STORE_ID_PATTERN
from chalicelib.program import load_program

if TYPE_CHECKING:
    from chalicelib.store.audiences import Filters

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)
PAGE = 50


class AudienceBody(Body):
    segment: Annotated[str, Field(json_schema_extra={"enum": list(NAMES)})]
    tier: Annotated[str, Field(max_length=64)] | None = None  # a tier code of the program
    status: Literal["active", "dormant"] | None = None
    store_id: Annotated[str, Field(pattern=f"^{STORE_ID_PATTERN}$")] | None = None  # the enrolment store

    @field_validator("segment")
    @classmethod
    def _known_segment(cls, value: str) -> str:
        if value not in NAMES:
            raise ValueError(f"one of {', '.join(NAMES)}")
        return value

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, value: str | None) -> str | None:
        codes = [tier.code for tier in load_program().tiers]
        if value is not None and value not in codes:
            raise ValueError(f"one of {', '.join(codes)}")
        return value

    def filters(self) -> Filters:
        from chalicelib.store.audiences import Filters

        return Filters(self.segment, self.tier, self.status, self.store_id)


class AudienceQuery(AudienceBody):
    limit: Annotated[int, Field(ge=1, le=100)] = PAGE
    cursor: Annotated[str, Field(max_length=2000)] | None = None


@blueprint.route("/audiences", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS, query=AudienceQuery)
def list_audience(query: AudienceQuery) -> dict[str, Any]:
    """The members of a segment (and tier, status, enrolment store), paged with an opaque signed
    cursor, and `count`: how many match (counted on the first page; later pages repeat it)."""
    from chalicelib.services import audiences  # here, not at import: `import app` stays quick

    return audiences.listing(query.filters(), query.limit, query.cursor)


@blueprint.route("/audiences/exports", methods=["POST"], authorizer=bearer_key)
@endpoint(role=OPS, status=201, body=AudienceBody)
def export_audience(body: AudienceBody) -> dict[str, Any]:
    """The whole audience as CSV in the bucket (exports/audiences/<timestamp>-<id>.csv): its key and rows."""
    from chalicelib.services import audiences

    return audiences.export(body.filters())
