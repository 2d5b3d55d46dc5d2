"""Honours read back in bulk: the check that tallies match their rows (`flask verify`, the jobs), the honours
register (评选表彰台账) of a community and above, and a person's own nominations, votes, objections and honours for
their data export. The dashboard section in insight.py registers the last two.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from domain import registers, reports
from domain.labels import campaign_kind_name, nomination_status_name, objection_status_name, phase_name
from domain.org import community_of, head_title
from models import Area, User, db, mask_phone
from models.area import path_under
from models.honours import Ballot, Campaign, Honour, Nomination, Objection, Vote

__all__ = ["verify"]

# --- tallies against their rows ---------------------------------------------------------------------------------


def verify(campaign: Campaign | None = None) -> list[str]:
    """Tallies against the rows: every nomination's counter equals its vote rows, every ballot its voter's rows
    and never more than the campaign's votes, every paid honour has its transaction. Returns the problems."""
    where_n = [Nomination.campaign_id == campaign.id] if campaign is not None else []
    rows = select(Vote.nomination_id, func.count().label("n")).group_by(Vote.nomination_id).subquery()
    problems = [f"nomination {nid}: tally {votes} but {n} vote row(s)" for nid, votes, n in db.session.execute(
        select(Nomination.id, Nomination.votes, func.coalesce(rows.c.n, 0))
        .outerjoin(rows, rows.c.nomination_id == Nomination.id)
        .where(Nomination.votes != func.coalesce(rows.c.n, 0), *where_n))]
    where_b = [Ballot.campaign_id == campaign.id] if campaign is not None else []
    per_voter = select(Vote.campaign_id, Vote.voter_id, func.count().label("n")) \
        .group_by(Vote.campaign_id, Vote.voter_id).subquery()
    problems += [f"ballot of voter {voter} in campaign {cid}: {used} used but {n} vote row(s)"
                 for cid, voter, used, n in db.session.execute(
                     select(Ballot.campaign_id, Ballot.voter_id, Ballot.used, func.coalesce(per_voter.c.n, 0))
                     .outerjoin(per_voter, (per_voter.c.campaign_id == Ballot.campaign_id)
                                & (per_voter.c.voter_id == Ballot.voter_id))
                     .where(Ballot.used != func.coalesce(per_voter.c.n, 0), *where_b))]
    problems += [f"ballot of voter {voter} in campaign {cid}: {used} votes used, only {limit} allowed"
                 for cid, voter, used, limit in db.session.execute(
                     select(Ballot.campaign_id, Ballot.voter_id, Ballot.used, Campaign.votes_per_voter)
                     .join(Campaign, Campaign.id == Ballot.campaign_id)
                     .where(Ballot.used > Campaign.votes_per_voter, *where_b))]
    where_h = [Honour.campaign_id == campaign.id] if campaign is not None else []
    problems += [f"honour {number}: {points} points but no transaction" for number, points in db.session.execute(
        select(Honour.number, Honour.points).where(Honour.points > 0, Honour.transaction_id.is_(None), *where_h))]
    return problems


# --- the honours register (评选表彰台账): campaigns, nominations, winners ---------------------------------------

def register_headers() -> list[str]:
    return [_("Name of the campaign"), _("Kind"), _("Held in"), _("Phase"), _("Nominations from"), _("Voting until"),
            _("Nominee"), _("Phone"), _("Tier"), _("Area"), _("Status"), _("Votes"), _("Honour title"),
            _("Certificate number"), _("Awarded at")]


def register_rows(area: Area):
    """A row per nomination, a campaign without any one row with the nominee columns empty; oldest campaign first."""
    held, headed = aliased(Area, name="held"), aliased(Area, name="headed")
    off = (select(Vote.nomination_id, func.count().label("n")).where(Vote.discounted.is_(True))
           .group_by(Vote.nomination_id).subquery())
    query = (select(Campaign.id, Campaign.title, Campaign.kind, held.name, held.id, Campaign.phase,
                    Campaign.nominate_from, Campaign.vote_until, User.name, User.phone, Nomination.tier, headed.name,
                    Nomination.status, Nomination.votes, off.c.n, Honour.title, Honour.number, Honour.awarded_at)
             .join(held, Campaign.area_id == held.id)
             .outerjoin(Nomination, Nomination.campaign_id == Campaign.id)
             .outerjoin(User, Nomination.nominee_id == User.id)
             .outerjoin(headed, Nomination.head_area_id == headed.id)
             .outerjoin(off, off.c.nomination_id == Nomination.id)
             .outerjoin(Honour, Honour.nomination_id == Nomination.id)
             .where(path_under(held.path, area.path))
             .order_by(Campaign.nominate_from, Campaign.id, Nomination.tier, Nomination.votes.desc(), Nomination.id))
    titles: dict[tuple[int, int], str] = {}
    communities: dict[int, Area | None] = {}
    for (_id, title, kind, held_name, held_id, phase, nominate_from, vote_until, nominee, phone, tier, heads,
         status, votes, discounted, honour, number, awarded_at) in db.session.execute(
            query.execution_options(yield_per=registers.BATCH)):
        if tier and (held_id, tier) not in titles:
            if held_id not in communities:
                communities[held_id] = community_of(db.session.get(Area, held_id))
            titles[held_id, tier] = head_title(communities[held_id], tier)
        yield [title, campaign_kind_name(kind), held_name, phase_name(phase), reports.local(nominate_from)[:10],
               reports.local(vote_until)[:10], nominee or "", mask_phone(phone) if phone else "",
               titles.get((held_id, tier), "") if tier else "", heads or "",
               nomination_status_name(status) if status else "",
               (votes or 0) - (discounted or 0) if status else "", honour or "", number or "",
               reports.local(awarded_at)]


# --- the personal export: my nominations, votes, objections and honours ---------------------------------------------

def my_nominations(person: User):
    """Nominations of me and by me. Of one by me: whom I nominated (mine to know), not how they fared; of one of
    me: how it went, not who nominated me."""
    for n in db.session.scalars(select(Nomination).where(
            or_(Nomination.nominee_id == person.id, Nomination.nominator_id == person.id))
            .order_by(Nomination.created_at, Nomination.id)):
        of_me = n.nominee_id == person.id
        yield {"campaign": n.campaign.title, "of_me": of_me, "by_me": n.nominator_id == person.id,
               "nominee": n.nominee.name, "reason": n.reason, "created_at": n.created_at,
               "status": nomination_status_name(n.status) if of_me else None,
               "answered_at": n.answered_at if of_me else None, "votes": n.votes if of_me else None,
               "decision_note": n.decision_note if of_me else None}


def my_votes(person: User):
    """My votes: for whom, when, and whether they counted. Never anybody else's vote."""
    for vote, nomination in db.session.execute(
            select(Vote, Nomination).join(Nomination, Vote.nomination_id == Nomination.id)
            .where(Vote.voter_id == person.id).order_by(Vote.created_at, Vote.id)):
        yield {"campaign": nomination.campaign.title, "nominee": nomination.nominee.name, "at": vote.created_at,
               "counted": not vote.discounted}


def my_objections(person: User):
    for o in db.session.scalars(select(Objection).where(Objection.objector_id == person.id)
                                .order_by(Objection.created_at, Objection.id)):
        yield {"campaign": o.nomination.campaign.title, "nominee": o.nomination.nominee.name,
               "signed_as": o.real_name, "reason": o.reason, "at": o.created_at,
               "status": objection_status_name(o.status), "handled_at": o.handled_at, "handling_note": o.handling_note}


def my_honours(person: User):
    for h in db.session.scalars(select(Honour).where(Honour.person_id == person.id)
                                .order_by(Honour.awarded_at, Honour.id)):
        yield {"title": h.title, "campaign": h.campaign.title, "community": h.community.name, "number": h.number,
               "points": h.points, "awarded_at": h.awarded_at}
