"""GET /kpis (docs/kpis.md): the program's figures per day, in total and per store."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api.http import endpoints
from chalicelib.api.models import Body
from chalicelib.api.routes import OPS, bearer_key
from chalicelib.ingest.names import STORE_ID_PATTERN

blueprint = Blueprint(__name__)
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
endpoint = endpoints(blueprint)


class KpiQuery(Body):
    model_config = ConfigDict(populate_by_name=True)

    # Program-local days, both included. Bounded so that the windows read before `from` (90 days)
    # and after `to` stay real dates: 0001-01-01 would overflow.
    start: dt.date = Field(alias="from", ge=FIRST_DAY, le=LAST_DAY)
    end: dt.date = Field(alias="to", ge=FIRST_DAY, le=LAST_DAY)
    store_id: Annotated[str, Field(pattern=f"^{STORE_ID_PATTERN}$")] | None = None
    by: Literal["staff"] | None = None  # with store_id: the recruitment figures of each of its clerks


@blueprint.route("/kpis", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS, query=KpiQuery)
def kpis(query: KpiQuery) -> dict[str, Any]:
    """Enrolments, members by tier and status, active members, points earned/redeemed/expired and
    outstanding, redemption, reactivation and repeat-purchase rates, member share of sales and
    average order values; the incentive figures (points by source, points paid, coupons issued/used/
    expired by kind, rewards redeemed, spend by tier, members by segment, the liability's value), per
    day, in total and per store, with each store's enrolments and recruited first purchases (at most
    366 days). `by=staff&store_id=S`: those two figures per clerk of store S."""
    from chalicelib.services import kpis as service  # here, not at import: `import app` stays quick

    return service.report(query.start, query.end, query.store_id, query.by)
