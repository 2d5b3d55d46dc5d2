"""The demo's honours: a season of best heads announced, good neighbours voting (with a flagged burst of
newcomers' votes), on public notice, and still nominating.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from domain.demo.data import HONOUR_REASONS, LOGINS, NEWCOMERS, SOON
from domain.demo.helpers import _heads, _local, _People, _Timeline
from models import (
    Area,
    Household,
    Role,
    RoleGrant,
    User,
    db,
)
from models.area import path_under


def _seed_honours(staff: User, community: Area, people: _People, index: int, now: datetime,
                  timeline: _Timeline) -> None:
    """银融社区: last season's best heads, announced with their points and certificates, and this year's good
    neighbours in the middle of voting (the demo volunteer still has all three votes; five accounts made the day
    before voted for one nominee within minutes, flagged for staff). 五里堆社区: good neighbours on public notice."""
    from domain import honours  # demo data of a later capability, loaded last

    rng = random.Random(f"honours-{community.id}")  # noqa: S311 - demo data, not secrets
    residents = list(db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.resident).order_by(User.id)))
    logins = {phone for phone, *_ in LOGINS}
    heads = _heads(community)
    neighbours = [p for p in residents if p.phone not in logins and p not in heads]

    def schedule(base: datetime, **extra) -> honours.CampaignForm:
        return honours.CampaignForm(nominate_from=base, nominate_until=base + timedelta(days=7),
                                    vote_from=base + timedelta(days=7), vote_until=base + timedelta(days=14),
                                    review_until=base + timedelta(days=17), **extra)

    def run(campaign, nominees: list[User], base: datetime, decline: int | None = None) -> list:
        """Nominations by neighbours in the first days, each answered the day after (one declines), voting
        opened, and votes cast over the week, each nominee's an hour or more apart."""
        standing = []
        for n, person in enumerate(nominees):
            at = base + timedelta(days=n % 5, hours=2 + n)
            by = next(p for p in rng.sample(residents, len(residents)) if p.id != person.id)
            nomination = honours.nominate(by, campaign, person, reason=HONOUR_REASONS[n % len(HONOUR_REASONS)],
                                          now=at)
            honours.answer(person, nomination, consent=n != decline, now=at + timedelta(days=1))
            if n != decline:
                standing.append(nomination)
        honours.advance(staff, campaign, now=base + timedelta(days=7))
        voters = [p for p in residents if p.phone not in logins]
        for n, voter in enumerate(voters):
            at = min(base + timedelta(days=7, minutes=70 * n + rng.randint(0, 30)), now - timedelta(minutes=30))
            weights = [len(standing) - i for i in range(len(standing))]  # the first named draw more votes
            for nomination in set(rng.choices(standing, weights, k=campaign.votes_per_voter)):
                if nomination.nominee_id != voter.id:
                    honours.cast_vote(voter, nomination, now=at)
        return standing

    def review(campaign, standing: list, base: datetime) -> None:
        honours.advance(staff, campaign, now=base + timedelta(days=14))
        at = base + timedelta(days=14, hours=3)
        for tier in campaign.tiers:
            group = sorted((n for n in standing if n.tier == tier), key=lambda n: (-n.votes, n.id))
            for rank, nomination in enumerate(group):
                chosen = rank < campaign.seats_for(tier)
                honours.decide(staff, nomination, shortlist=chosen, now=at,
                               note="得票靠前，服务记录扎实，居民评价好" if chosen else "得票较少，本次未入围")
        honours.advance(staff, campaign, now=base + timedelta(days=15))

    if index == 0:
        base = now - timedelta(days=80)
        best = honours.open_campaign(staff, community, schedule(
            base, kind="best_head", title=f"{_local(base).year}年度{community.name}“最美三长”",
            description="表彰履职尽责、热心服务居民的网格长、楼栋长和单元长。", seats={1: 1, 2: 2, 3: 3}),
            now=base - timedelta(days=2))
        standing = run(best, heads, base, decline=4)
        review(best, standing, base)
        target = honours.shortlist(best)[-1]
        named = {n.nominee.name for n in honours.nominations(best)} | {target.nominator.name}
        objector = next(p for p in neighbours if p.name not in named)
        objection = honours.lodge_objection(objector, best, target, real_name=objector.name,
                                            reason="这位单元长对楼道堆物劝导不够及时。",
                                            now=best.notice_from + timedelta(days=1))
        honours.handle_objection(staff, objection, upheld=False, note="经入户走访核实，堆物已于公示前清理完毕，"
                                 "该单元长日常履职认真，不影响评选结果。", now=best.notice_from + timedelta(days=2))
        announced = best.notice_until + timedelta(hours=9)
        timeline.at(announced, partial(honours.advance, staff, best, now=announced))

        base = now - timedelta(days=9)
        good = honours.open_campaign(staff, community, schedule(
            base, kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”",
            description="推选身边乐于助人、孝老爱亲、热心公益的好邻居。", seats=5), now=base - timedelta(days=1))
        standing = run(good, neighbours[:6], base)
        burst = now - timedelta(hours=3)  # after the others' votes, so the flag holds only the five
        homes = list(db.session.scalars(select(Household).join(Area, Household.unit_id == Area.id)
                                        .where(path_under(Area.path, community.path)).order_by(Household.id)))
        for n in range(5):
            newcomer = people.make(f"1360000{n:04d}", homes[n], name=NEWCOMERS[n])
            newcomer.grants.append(RoleGrant(role=Role.resident, area=community))
            newcomer.created_at = burst - timedelta(days=1)
            db.session.flush()
            honours.cast_vote(newcomer, standing[-1], now=burst + timedelta(minutes=2 * n))
    elif index == 1:
        base = now - timedelta(days=15, hours=2)
        good = honours.open_campaign(staff, community, schedule(
            base, kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”", seats=3),
            now=base - timedelta(days=1))
        review(good, run(good, neighbours[:5], base), base)
    elif index == 2:
        # Nominations close SOON after seeding: the scheduler opens the voting then, by itself.
        base = now - timedelta(days=6)
        good = honours.open_campaign(staff, community, honours.CampaignForm(
            kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”", seats=3,
            nominate_from=base, nominate_until=now + SOON, vote_from=now + SOON, vote_until=now + timedelta(days=7),
            review_until=now + timedelta(days=10)), now=base - timedelta(days=1))
        for n, person in enumerate(neighbours[:4]):
            at = base + timedelta(days=n, hours=3)
            nomination = honours.nominate(neighbours[-1 - n], good, person,
                                          reason=HONOUR_REASONS[n % len(HONOUR_REASONS)], now=at)
            honours.answer(person, nomination, consent=True, now=at + timedelta(hours=20))
