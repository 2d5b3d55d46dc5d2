"""Honours campaigns in the staff dashboard, the roll-up, the registers and a person's own data export.

A campaign belongs to the area it is held over: a community's dashboard counts the campaigns of the community and
of the estates and grids in it; a street's adds those held over the whole street. Nominations, votes and honours
count in the month they were made, cast or awarded; votes staff discounted do not count. `register()` (called by
create_app) adds the section, the honours register and the personal-export sections; the rows of the last two
are read in py.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from domain import dashboards, export, registers
from domain.dashboards import Chart, Figure, Frame, Section, Series
from domain.honours.report import my_honours, my_nominations, my_objections, my_votes, register_headers, register_rows
from domain.labels import campaign_kind_name
from domain.leaderboards import month_text
from domain.ledger import month_of
from domain.sql_insight import in_frame, monthly
from models import Area, Campaign, CampaignKind, Honour, Nomination, Vote, db
from models.area import path_under

#: Campaigns on the dashboard's campaigns chart: the latest.
TOP_CAMPAIGNS = 10


#: The area a campaign is held over, aliased once: aliasing an entity costs more CPU than running a small query.
_PLACE = aliased(Area, name="place")


def _joined(model, *columns):
    """(select, place): `columns` over the rows of `model` (a campaign, or a row of one), joined to the campaign
    and to the area it is held over (`place`)."""
    place = _PLACE
    query = select(*columns).select_from(model)
    if model is not Campaign:
        query = query.join(Campaign, model.campaign_id == Campaign.id)
    return query.join(place, Campaign.area_id == place.id), place


def _rows(model, area: Area, *columns):
    """A select of `columns` over the rows of `model` of the campaigns held in `area`."""
    query, place = _joined(model, *columns)
    return query.where(path_under(place.path, area.path))


def _counted_vote():
    return Vote.discounted.is_(False)


def _running_in(frame: Frame) -> list:
    """Campaigns that ran during the frame's months: opened before its end, not announced before its start."""
    return [Campaign.nominate_from < frame.until,
            or_(Campaign.announced_at.is_(None), Campaign.announced_at >= frame.since)]


def _per_campaign(model, ids: list[int], *where) -> dict[int, int]:
    return dict(db.session.execute(select(model.campaign_id, func.count()).where(model.campaign_id.in_(ids), *where)
                                   .group_by(model.campaign_id)).all())


def _campaigns_chart(frame: Frame) -> Chart:
    campaigns = list(reversed(db.session.execute(
        _rows(Campaign, frame.area, Campaign.id, Campaign.title, Campaign.area_id, Campaign.kind,
              Campaign.nominate_from)
        .where(*_running_in(frame)).order_by(Campaign.nominate_from.desc(), Campaign.id.desc())
        .limit(TOP_CAMPAIGNS)).all()))
    ids = [c[0] for c in campaigns]
    places, nominations, winners = {}, {}, {}
    if campaigns:  # most months of most areas have none: three queries fewer
        places = dict(db.session.execute(
            select(Area.id, Area.name).where(Area.id.in_({c[2] for c in campaigns}))).all())
        nominations, winners = _per_campaign(Nomination, ids), _per_campaign(Honour, ids)

    def label(title, area_id, kind, opened):
        # Titles share their start ("2026年度银融社区…") and the chart cuts long names: the kind and month tell apart.
        name = title if kind == CampaignKind.custom else f"{campaign_kind_name(kind)} {month_text(month_of(opened))}"
        return name if area_id == frame.area.id else f"{name} · {places.get(area_id, '')}"

    return Chart("campaigns", _("Campaigns: nominations and winners"), _("Campaign"),
                 [label(*c[1:]) for c in campaigns], [
                     Series(_("Nominations"), [nominations.get(i, 0) for i in ids]),
                     Series(_("Winners"), [winners.get(i, 0) for i in ids])],
                 horizontal=True, note=_("Campaigns that ran in the months shown (the latest %(n)s at most), by kind "
                                         "and the month nominations opened; all their nominations and winners.",
                                         n=TOP_CAMPAIGNS))


def _charts(frame: Frame) -> list[Chart]:
    def count(model, stamp, *where):
        months = monthly(frame, stamp, _rows(model, frame.area, model.id).where(*where), lambda c: func.count())
        return [int(months[m][0]) for m in frame.months]

    return [
        Chart("honours_by_month", _("Nominations, votes and honours by month"), _("Month"), frame.labels, [
            Series(_("Nominations"), count(Nomination, Nomination.created_at)),
            Series(_("Honours awarded"), count(Honour, Honour.awarded_at)),
            Series(_("Votes"), count(Vote, Vote.created_at, _counted_vote()), kind="line", axis=1)],
            axes=(_("People"), _("Votes"))),
        _campaigns_chart(frame),
    ]


def _rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    """Per community, the campaigns held in it; the total also counts those held over the whole street."""
    ids = [c.id for c in communities]
    community = aliased(Area, name="community")

    def figure(key, label, model, *where, charted=False):
        query, place = _joined(model, community.id, func.count())
        values = dict(db.session.execute(
            query.join(community, and_(community.id.in_(ids), path_under(place.path, community.path)))
            .where(*where).group_by(community.id)).all())
        total = db.session.scalar(_rows(model, frame.area, func.count()).where(*where))
        return Figure(key, label, {i: values.get(i, 0) for i in ids}, total or 0, charted)

    return [figure("campaigns", _("Campaigns"), Campaign, *_running_in(frame)),
            figure("nominations", _("Nominations"), Nomination, *in_frame(frame, Nomination.created_at),
                   charted=True),
            figure("votes", _("Votes"), Vote, _counted_vote(), *in_frame(frame, Vote.created_at)),
            figure("winners", _("Honours awarded"), Honour, *in_frame(frame, Honour.awarded_at), charted=True)]


def register() -> None:
    """This capability's dashboard section, registers and personal-export section (called by create_app)."""
    dashboards.register_section(Section("honours", _l("Honours"), _charts, _rollup, order=70))
    registers.add_register(registers.Register(
        "honours", _l("Honours register"),
        _l("Every campaign with its nominees, their votes and the winners with their certificate numbers."),
        registers.COMMUNITY_AND_ABOVE, headers=register_headers, rows=register_rows, order=65))
    export.add_section(export.ExportSection("nominations", _l("Nominations"), [
        ("campaign", _l("Campaign")), ("of_me", _l("Of me")), ("by_me", _l("By me")), ("nominee", _l("Nominee")),
        ("reason", _l("Reason")), ("created_at", _l("Nominated at")), ("status", _l("Status")),
        ("answered_at", _l("Answered at")), ("votes", _l("Votes")), ("decision_note", _l("Staff's note"))],
        my_nominations, order=150))
    export.add_section(export.ExportSection("votes", _l("My votes"), [
        ("campaign", _l("Campaign")), ("nominee", _l("Voted for")), ("at", _l("Time")), ("counted", _l("Counted"))],
        my_votes, order=151))
    export.add_section(export.ExportSection("objections", _l("My objections"), [
        ("campaign", _l("Campaign")), ("nominee", _l("Nominee")), ("signed_as", _l("Signed as")),
        ("reason", _l("Reason")), ("at", _l("Time")), ("status", _l("Status")), ("handled_at", _l("Handled at")),
        ("handling_note", _l("How it was handled"))], my_objections, order=152))
    export.add_section(export.ExportSection("honours", _l("My honours"), [
        ("title", _l("Honour")), ("campaign", _l("Campaign")), ("community", _l("Community")),
        ("number", _l("Certificate number")), ("points", _l("Points")), ("awarded_at", _l("Awarded at"))],
        my_honours, order=153))
