"""What waits for community staff: how many service records, needs and redemptions wait on them in each community,
counted for the staff home's buttons in one query per kind whatever the number of communities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from domain.tasks.queries import approvable
from models import Redemption, RedemptionStatus, ServiceRecord, ServiceStatus, Task, db


@dataclass(frozen=True)
class Waiting:
    """The queues of one community: service records to approve, needs to approve, redemptions to hand out."""

    records: int = 0
    needs: int = 0
    redemptions: int = 0


def _counted(query, column, ids: list[int]) -> dict[int, int]:
    return dict(db.session.execute(query.where(column.in_(ids)).group_by(column)).all())


def waiting_in(community_ids: Iterable[int]) -> dict[int, Waiting]:
    """Each community's queues, by id (communities with nothing waiting get zeros): three queries in all."""
    ids = sorted(set(community_ids))
    if not ids:
        return {}
    records = _counted(select(ServiceRecord.community_id, func.count()).where(
        ServiceRecord.status == ServiceStatus.submitted), ServiceRecord.community_id, ids)
    needs = _counted(select(Task.community_id, func.count()).where(approvable()), Task.community_id, ids)
    redemptions = _counted(select(Redemption.community_id, func.count()).where(
        Redemption.status == RedemptionStatus.reserved), Redemption.community_id, ids)
    return {i: Waiting(records.get(i, 0), needs.get(i, 0), redemptions.get(i, 0)) for i in ids}
