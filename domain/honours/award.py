"""The announcement and what it leaves: each shortlisted nominee still on the list gets an Honour (UNIQUE per
nomination) with a random certificate number and the campaign's points through the ledger under the key
"honour:<id>", so that announcing again awards nothing twice. Then the honours read back: a campaign's, a person's,
the public honour roll (光荣榜), the public check of a number, and the certificate (荣誉证书) as a PDF.
"""

from __future__ import annotations

import io
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from domain import audit, certificates, ledger, notifications, webhooks
from domain.access import get_visible, require
from domain.errors import Conflict, NotFound, Refused
from domain.honours.campaign import tier_name
from domain.honours.nomination import _set_status
from domain.membership import communities_of
from domain.org import community_of
from models import Area, TxnKind, User, db, load_by_number, mask_name, utcnow
from models.area import path_under
from models.honours import Campaign, Honour, Nomination, NominationStatus, Phase
from models.sql import upsert

__all__ = [
    "NUMBER_ATTEMPTS", "award_honours", "by_number", "certificate_statement", "honour_pdf", "honour_roll",
    "honour_title", "honours", "honours_of", "new_number", "readable_honour", "roll_area", "roll_name", "verification",
]

NUMBER_ATTEMPTS = 5

notifications.register("honours.awarded", _l("Congratulations: you have been honoured as %(title)s."))


# --- the announcement ------------------------------------------------------------------------------------------

def _home_community(person: User, campaign: Campaign, nomination: Nomination) -> Area:
    """Whose ledger pays and whose roll shows the honour: the winner's community inside the campaign's area."""
    for community in communities_of(person):
        if community.path.startswith(campaign.area.path) or campaign.area.path.startswith(community.path):
            return community
    for area in (nomination.head_area, campaign.area):
        community = community_of(area) if area is not None else None
        if community is not None:
            return community
    raise Refused("no_community", _l("The winner belongs to no community."))


def new_number(now: datetime) -> str:
    """RY2026-3F9A0C11D2: 荣誉 (honour), the year, 40 random bits."""
    return f"RY{certificates.new_number(now)}"


def _insert_honour(values: dict, now: datetime) -> int | None:
    """Insert the honour unless its nomination has one; a clash of random numbers is retried."""
    for _attempt in range(NUMBER_ATTEMPTS):
        try:
            with db.session.begin_nested():
                return db.session.execute(
                    upsert(Honour).values(number=new_number(now), **values)
                    .on_conflict_do_nothing(index_elements=["nomination_id"]).returning(Honour.id)).scalar()
        except IntegrityError:
            continue
    raise Conflict("number_clash", _l("Please try again."))


def award_honours(campaign: Campaign, actor: User | None, *, now: datetime | None = None) -> list[Honour]:
    """Honour every nominee still on the list of an announced campaign, and credit the points. Idempotent: the
    UNIQUE nomination of an honour and the ledger key "honour:<id>" make a second run award nothing.

    Raises Conflict(not_announced) before the announcement.
    """
    now = now or utcnow()
    if campaign.phase != Phase.announced:
        raise Conflict("not_announced", _l("The campaign has not been announced."))
    awarded, fresh = [], []
    winners = db.session.scalars(select(Nomination).where(
        Nomination.campaign_id == campaign.id,
        Nomination.status.in_([NominationStatus.shortlisted, NominationStatus.honoured]))
        .order_by(Nomination.tier, Nomination.id)).all()
    for nomination in winners:
        community = _home_community(nomination.nominee, campaign, nomination)
        honour_id = _insert_honour(dict(campaign_id=campaign.id, nomination_id=nomination.id,
                                        person_id=nomination.nominee_id, community_id=community.id,
                                        title=campaign.title, tier=nomination.tier, points=campaign.points,
                                        awarded_at=now), now)
        if nomination.status == NominationStatus.shortlisted:
            _set_status(nomination, NominationStatus.honoured, Conflict("already_announced", ""))
        honour = db.session.scalar(select(Honour).where(Honour.nomination_id == nomination.id))
        if honour.points:
            txn = ledger.credit(nomination.nominee, community, honour.points, kind=TxnKind.honour,
                                key=f"honour:{honour.id}", source=("honour", honour.id), memo=honour.title,
                                actor=actor, now=now)
            db.session.execute(update(Honour).where(Honour.id == honour.id, Honour.transaction_id.is_(None))
                               .values(transaction_id=txn.id).execution_options(synchronize_session=False))
            db.session.refresh(honour)
        if honour_id is not None:
            audit.record(actor, "honour.award", honour, area_id=community.id, now=now,
                         after={"person_id": honour.person_id, "number": honour.number, "points": honour.points})
            notifications.notify([honour.person_id], "honours.awarded", params={"title": honour.title}, now=now,
                                 link=("honours.verify", {"number": honour.number}), dedupe_key=f"honour:{honour.id}")
            fresh.append(honour)
        awarded.append(honour)
    _announce(campaign, fresh, now)
    return awarded


def _announce(campaign: Campaign, fresh: list[Honour], now: datetime) -> None:
    """The webhook "honours.announced": one event per community of the people honoured now (a street's campaign
    tells each community of its own), none when a second run honours nobody new."""
    by_community: dict[int, list[Honour]] = {}
    for honour in fresh:
        by_community.setdefault(honour.community_id, []).append(honour)
    for community_id, theirs in by_community.items():
        webhooks.emit("honours.announced", db.session.get(Area, community_id), {
            "campaign_id": campaign.id, "kind": campaign.kind, "title": campaign.title, "announced_at": now,
            "honours": [{"honour_id": h.id, "number": h.number, "person_id": h.person_id, "tier": h.tier}
                        for h in theirs]}, now=now)


# --- reading ----------------------------------------------------------------------------------------------------

def honours(campaign: Campaign) -> list[Honour]:
    return list(db.session.scalars(select(Honour).where(Honour.campaign_id == campaign.id)
                                   .order_by(Honour.tier, Honour.id)))


def honours_of(person: User) -> list[Honour]:
    return list(db.session.scalars(select(Honour).where(Honour.person_id == person.id)
                                   .order_by(Honour.awarded_at.desc(), Honour.id.desc())))


def honour_roll(area: Area, limit: int = 500) -> list[Honour]:
    """Honours of the people of the area's communities, newest first: the public honour roll."""
    return list(db.session.scalars(
        select(Honour).join(Area, Honour.community_id == Area.id)
        .where(path_under(Area.path, area.path))
        .order_by(Honour.awarded_at.desc(), Honour.tier, Honour.id).limit(limit)))


def roll_name(person: User) -> str:
    """A name on the public honour roll: masked, and only for those who agreed to appear on public lists."""
    return person.masked_name if person.public_consent else _("Name not shown")


def roll_area(area_id: int) -> Area:
    """An area whose honour roll is public: a district, street or community. Raises NotFound."""
    return get_visible(Area, area_id, None, "area.honour_roll")


def by_number(number: str) -> Honour:
    found = load_by_number(Honour, number)
    if found is None:
        raise NotFound("not_found", _l("No honour has this number."))
    return found


def readable_honour(user: User, number: str) -> Honour:
    """The honour's certificate, for its person and the campaign's staff. Raises NotFound for anyone else."""
    honour = by_number(number)
    require(user, "honour.certificate", honour)
    return honour


def honour_title(honour: Honour) -> str:
    """The title as certificates and rolls show it: '2026年度“最美三长”（楼栋长）'."""
    tier = tier_name(honour.campaign, honour.tier)
    return _("%(title)s (%(tier)s)", title=honour.title, tier=tier) if tier else honour.title


def verification(honour: Honour) -> dict:
    """What anyone holding the number may see: no personal data beyond the masked name."""
    return {"number": honour.number, "valid": True, "name": mask_name(honour.person.name),
            "title": honour_title(honour), "campaign": honour.campaign.title, "issuer": honour.campaign.area.name,
            "awarded_at": honour.awarded_at}


# --- the certificate -----------------------------------------------------------------------------------------------

def certificate_statement(honour: Honour) -> str:
    return _("Recommended and voted for by the residents of %(area)s, reviewed and publicly announced, you have "
             "been awarded the title %(title)s. This certificate is awarded in recognition.",
             area=honour.campaign.area.name, title=honour_title(honour))


def honour_pdf(honour: Honour, verify_url: str) -> bytes:
    """The honour certificate (荣誉证书) as an A4 PDF with the verification QR code, in the built-in Chinese font."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = certificates.pdf_font()
    person, campaign = honour.person, honour.campaign
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"{_('Honour certificate')} {honour.number}")
    pdf.setSubject(honour.number)
    pdf.setAuthor(campaign.area.name)
    width, height = A4
    left, right = 25 * mm, width - 25 * mm
    pdf.setStrokeColorRGB(0.72, 0.12, 0.1)
    pdf.setLineWidth(3)
    # A double red frame, inside which the verification line at the foot still fits.
    pdf.rect(7 * mm, 7 * mm, width - 14 * mm, height - 14 * mm)
    pdf.setLineWidth(0.8)
    pdf.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    pdf.setFillColorRGB(0.72, 0.12, 0.1)
    pdf.setFont(font, 36)
    pdf.drawCentredString(width / 2, height - 55 * mm, _("Honour certificate"))
    pdf.setFillColorRGB(0, 0, 0)
    pdf.setFont(font, 10)
    pdf.drawRightString(right, height - 68 * mm, _("No. %(number)s", number=honour.number))
    y = height - 90 * mm
    pdf.setFont(font, 16)
    pdf.drawString(left, y, _("%(name)s:", name=person.name))
    y -= 14 * mm
    statement = certificate_statement(honour)
    for line in certificates.wrap(statement, font, 15, right - left - 10 * mm):
        pdf.drawString(left + 10 * mm, y, line)
        y -= 10 * mm
    pdf.setFont(font, 14)
    pdf.drawRightString(right, 88 * mm, campaign.area.name)
    pdf.drawRightString(right, 78 * mm, certificates.local_date(honour.awarded_at))
    certificates.draw_verification(pdf, verify_url, font, left, right)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
