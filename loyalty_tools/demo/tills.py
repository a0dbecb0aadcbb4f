"""The stores' till rows beyond the members' own: non-member receipts and their returns, a
misread card now and then; and the receipt ids, numbered per store and day."""

from __future__ import annotations

import math
import random

from loyalty_tools.demo.model import (
    HOUR_WEIGHTS,
    MISREAD_CARD_SHARE,
    NON_MEMBER_RETURN_SHARE,
    RETURN,
    SALE,
    Plan,
    StoreRow,
    demand,
    money,
    poisson,
)


def store_traffic(plan: Plan, store: str, position: int) -> None:
    """Non-member receipts (and their returns), and now and then a misread member card."""
    rng = random.Random(f"demo/{plan.seed}/store/{store}")
    mean = 5 + 3 * position
    for day in range(plan.days + 1):
        for _ in range(poisson(rng, mean * demand(plan.date_of(day), False))):
            minute = rng.choices(range(7, 22), weights=HOUR_WEIGHTS)[0] * 60 + rng.randrange(60)
            sale = StoreRow(
                day,
                minute,
                SALE,
                money(85 * math.exp(rng.gauss(0, 0.6))),
                "",
                rng.choice(("fresh", "household", "", "")),
            )
            if rng.random() < MISREAD_CARD_SHARE:
                sale.member_id = f"demo{plan.seed}-card{rng.randrange(10**6):06d}"  # nobody has this card
            plan.store_rows[day].setdefault(store, []).append(sale)
            back = day + rng.randint(1, 10)
            if rng.random() < NON_MEMBER_RETURN_SHARE and back <= plan.days and not sale.member_id:
                row = StoreRow(
                    back,
                    rng.randrange(10 * 60, 21 * 60),
                    RETURN,
                    min(sale.amount, money(float(sale.amount) * rng.uniform(0.2, 1.0))),
                )
                row.original = sale
                plan.store_rows[back].setdefault(store, []).append(row)


def number_receipts(plan: Plan) -> None:
    for day, stores in plan.store_rows.items():
        stamp = plan.date_of(day).strftime("%Y%m%d")
        for rows in stores.values():
            rows.sort(key=lambda row: row.minute)
            for number, row in enumerate(rows, 1):
                row.receipt_id = f"d{plan.seed}-{stamp}-{number:04d}"
