"""Counts read from ``daily_rollups``, never from the raw events."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from .models import daily_rollups, pages
from .urls import url_hash


def page_counts(conn: Connection, site_id: int, url: str) -> dict[str, Any]:
    """All-time shares of one page: per service (largest first) and in total."""
    query = (
        select(daily_rollups.c.service, func.sum(daily_rollups.c.shares))
        .join(pages, pages.c.id == daily_rollups.c.page_id)
        .where(pages.c.site_id == site_id, pages.c.url_hash == url_hash(url))
        .group_by(daily_rollups.c.service)
    )
    per_service = {service: int(total) for service, total in conn.execute(query)}
    ordered = dict(sorted(per_service.items(), key=lambda item: (-item[1], item[0])))
    return {"url": url, "total": sum(ordered.values()), "services": ordered}
