"""Volunteer service certificates (志愿服务证明): issued free, numbered, registered, verifiable by number.

Following the Ministry's rules, the community that organised the service certifies it. What a
certificate says is fixed when it is issued: the ids of the approved records it covers and their total
are stored on it, so a record revoked or approved later never changes a certificate already given out.
Its number is random (40 bits), so numbers cannot be guessed in sequence; anyone holding one can verify
it and sees only a masked name, the hours, the period and the issuer.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit, qr, reports
from domain.access import can, require
from domain.errors import Conflict, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI
from domain.membership import communities_of, member_of
from domain.paging import Page, paginate
from domain.service import hours_text
from models import Area, Level, Role, RoleGrant, User, db, load_by_number, mask_name, utcnow
from models.service import Certificate, ServiceRecord, ServiceStatus

#: Longest period one certificate covers; a longer one is most likely a typing mistake.
MAX_PERIOD_DAYS = 366 * 10
NUMBER_ATTEMPTS = 5


def volunteer_number(person: User) -> str:
    """The volunteer number printed on certificates: never the ID number."""
    return f"ZY{person.id:08d}"


def new_number(now: datetime) -> str:
    return f"{now.astimezone(SHANGHAI).year}-{secrets.token_hex(5).upper()}"


# --- loading and access ------------------------------------------------------------------------------------

def by_number(number: str) -> Certificate:
    """Raises NotFound for a number that was never issued."""
    found = load_by_number(Certificate, number)
    if found is None:
        raise NotFound("not_found", _l("No certificate has this number."))
    return found


def readable(user: User, number: str) -> Certificate:
    """The whole certificate for its person or the issuing staff. Raises NotFound for anyone else."""
    certificate = by_number(number)
    require(user, "certificate.read", certificate)
    return certificate


def issuing_communities(person: User) -> list[Area]:
    """Communities that can certify the person's service: where they belong or have approved records."""
    found = {c.id: c for c in communities_of(person)}
    with_records = select(ServiceRecord.community_id).where(ServiceRecord.person_id == person.id,
                                                            ServiceRecord.status == ServiceStatus.approved)
    for community in db.session.scalars(select(Area).where(Area.id.in_(with_records))):
        found[community.id] = community
    return sorted(found.values(), key=lambda c: c.name)


def _has_records(person: User, community: Area) -> bool:
    return bool(db.session.scalar(select(exists().where(
        ServiceRecord.person_id == person.id, ServiceRecord.community_id == community.id,
        ServiceRecord.status == ServiceStatus.approved))))


# --- issuing ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Handler:
    user: User | None
    name: str
    contact: str


def _first_staff(community: Area) -> User | None:
    return db.session.scalar(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.staff, User.active.is_(True))
        .order_by(RoleGrant.id).limit(1))


def handler_for(actor: User, person: User, community: Area) -> Handler:
    """Staff issuing for someone else handle it themselves; otherwise the community's configured handler
    (settings "certificate_handler": a user id or a name), else its first staff member.

    Raises Refused(no_handler) when the community has nobody to handle certificates.
    """
    settings = community.settings or {}
    phone = str(settings.get("contact_phone") or "").strip()
    if actor.id != person.id and can(actor, "area.manage", community):
        return Handler(actor, actor.name, phone or actor.phone)
    configured = settings.get("certificate_handler")
    user = None
    if isinstance(configured, int) or (isinstance(configured, str) and configured.strip().isdigit()):
        user = db.session.get(User, int(configured))
        user = user if user is not None and user.active and can(user, "area.manage", community) else None
    elif isinstance(configured, str) and configured.strip():
        staff = _first_staff(community)
        contact = phone or (staff.phone if staff else "")
        if contact:
            return Handler(None, configured.strip()[:50], contact)
    user = user or _first_staff(community)
    if user is None:
        raise Refused("no_handler", _l("The community has no staff member to handle certificates yet."))
    return Handler(user, user.name, phone or user.phone)


def certified_records(person: User, community: Area, period_from: date, period_to: date) -> list[ServiceRecord]:
    """The person's approved records organised by the community with a service day in the period."""
    return list(db.session.scalars(
        select(ServiceRecord).where(ServiceRecord.person_id == person.id, ServiceRecord.community_id == community.id,
                                    ServiceRecord.status == ServiceStatus.approved,
                                    ServiceRecord.service_day >= period_from, ServiceRecord.service_day <= period_to)
        .order_by(ServiceRecord.started_at, ServiceRecord.id)))


def issue_certificate(actor: User, person: User, community: Area, *, period_from: date, period_to: date,
                      now: datetime | None = None) -> Certificate:
    """Issue a certificate of the person's approved service in the community over the period.

    A volunteer issues their own; staff issue for a person of their community. The records and their total
    are fixed on the certificate now.
    Raises NotFound (community or person outside the actor's reach), Invalid(period_invalid),
    Refused(no_service_in_period, no_handler).
    """
    now = now or utcnow()
    if community.level != Level.community:
        raise NotFound("not_found", _l("Not found."))
    if actor.id == person.id:
        if not (member_of(person, community) or _has_records(person, community)):
            raise NotFound("not_found", _l("Not found."))
    else:
        require(actor, "area.manage", community)
        if not (member_of(person, community) or _has_records(person, community)):
            raise NotFound("not_found", _l("Not found."))
    today = now.astimezone(SHANGHAI).date()
    if period_from is None or period_to is None or period_from > period_to or period_to > today \
            or (period_to - period_from).days > MAX_PERIOD_DAYS:
        message = _l("Choose a period that starts before it ends and does not end in the future.")
        raise Invalid("period_invalid", message, {"period_to": [message]})
    records = certified_records(person, community, period_from, period_to)
    if not records:
        raise Refused("no_service_in_period", _l("There is no approved service in this period to certify."))
    handler = handler_for(actor, person, community)
    certificate = None
    db.session.flush()
    for _attempt in range(NUMBER_ATTEMPTS):
        certificate = Certificate(
            number=new_number(now), person_id=person.id, community_id=community.id, period_from=period_from,
            period_to=period_to, total_minutes=sum(r.credited_minutes for r in records),
            record_ids=[r.id for r in records], handler_id=handler.user.id if handler.user else None,
            handler_name=handler.name, contact=handler.contact[:50], issued_by_id=actor.id, issued_at=now)
        try:
            # Added inside the savepoint: begin_nested() flushes what is pending before its SAVEPOINT, and a
            # clash flushed there would abort the whole transaction instead of this attempt alone.
            with db.session.begin_nested():
                db.session.add(certificate)
            break
        except IntegrityError:
            # 40 random bits: a clash is all but impossible, and the UNIQUE number settles it if it happens.
            certificate = None
    if certificate is None:
        raise Conflict("number_clash", _l("Please try again."))
    audit.record(actor, "certificate.issue", certificate, area_id=community.id, now=now,
                 after={"number": certificate.number, "person_id": person.id, "minutes": certificate.total_minutes,
                        "from": period_from.isoformat(), "to": period_to.isoformat()})
    return certificate


def revoke_certificate(actor: User, certificate: Certificate, *, reason: str,
                       now: datetime | None = None) -> Certificate:
    """Staff of the issuing community revoke a certificate; it then verifies as invalid.

    Raises NotFound (scope), Invalid(reason_required), Conflict(already_revoked).
    """
    now = now or utcnow()
    require(actor, "area.manage", certificate)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the certificate is revoked."), {"reason": [_l("Required.")]})
    moved = db.session.execute(
        update(Certificate).where(Certificate.id == certificate.id, Certificate.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("already_revoked", _l("This certificate has already been revoked."))
    db.session.refresh(certificate)
    audit.record(actor, "certificate.revoke", certificate, area_id=certificate.community_id, reason=reason, now=now,
                 before={"number": certificate.number})
    return certificate


# --- reading -------------------------------------------------------------------------------------------------

def records_of(certificate: Certificate) -> list[ServiceRecord]:
    """The records fixed on the certificate, in the order they were certified."""
    ids = [int(i) for i in certificate.record_ids or []]
    found = {r.id: r for r in db.session.scalars(select(ServiceRecord).where(ServiceRecord.id.in_(ids)))} if ids \
        else {}
    return [found[i] for i in ids if i in found]


def verification(certificate: Certificate) -> dict:
    """What anyone holding the number may see: no personal data beyond the masked name."""
    return {
        "number": certificate.number,
        "valid": certificate.revoked_at is None,
        "name": mask_name(certificate.person.name),
        "hours": hours_text(certificate.total_minutes),
        "period_from": certificate.period_from,
        "period_to": certificate.period_to,
        "issuer": certificate.community.name,
        "issued_at": certificate.issued_at,
    }


def of_person(person: User) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.person_id == person.id)
                                   .order_by(Certificate.issued_at.desc(), Certificate.id.desc())))


def register(community: Area, text: str | None = None):
    """A select of the community's certificates, newest first, optionally by name or volunteer number."""
    query = select(Certificate).join(User, Certificate.person_id == User.id) \
        .where(Certificate.community_id == community.id)
    text = (text or "").strip()
    if text:
        conditions = [User.name.contains(text, autoescape=True), Certificate.number == text.upper()]
        digits = text.upper().removeprefix("ZY")
        # ASCII digits only ("²".isdigit() is true, but int() refuses it), and few enough for an id column.
        if digits.isascii() and digits.isdigit() and len(digits) <= 12:
            conditions.append(User.id == int(digits))
        query = query.where(or_(*conditions))
    return query.order_by(Certificate.issued_at.desc(), Certificate.id.desc())


def count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def register_page(community: Area, text: str | None, page: int, per_page: int) -> Page:
    """One page of the register (past the last page: the last page), with how many certificates match."""
    return paginate(register(community, text), page, per_page, last_if_past=True)


def register_xlsx(query, now: datetime):
    """The certificates register (台账) as .xlsx, every row of the query."""
    def rows():
        for certificate in db.session.scalars(query.execution_options(yield_per=500)):
            yield [certificate.number, certificate.person.name, volunteer_number(certificate.person),
                   certificate.period_from.isoformat(), certificate.period_to.isoformat(),
                   float(hours_text(certificate.total_minutes)), len(certificate.record_ids or []),
                   certificate.handler_name, reports.local(certificate.issued_at),
                   _("Revoked") if certificate.revoked_at else _("Valid"), certificate.revoke_reason or ""]

    headers = [_("Certificate number"), _("Full name"), _("Volunteer number"), _("From"), _("To"), _("Hours"),
               _("Services"), _("Handler"), _("Issued"), _("Status"), _("Reason")]
    return reports.write_xlsx(_("Certificates register"), headers, rows(), now)


# --- PDF -------------------------------------------------------------------------------------------------------

def local_date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return format_date(value, "long")


def fit(text: str, font: str, size: float, width: float) -> str:
    """The text cut (with an ellipsis) to fit `width` points on the page."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points, broken between any two characters (Chinese has no spaces)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, line = [], ""
    for char in text:
        if line and stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line else lines


def pdf_font() -> str:
    """The Chinese CID font built into every PDF reader (no font file), registered once; its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    return font


def draw_verification(pdf, verify_url: str, font: str, left: float, right: float) -> None:
    """The foot of a certificate page: the note that it is free and how to verify it, the link, and its QR code."""
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader

    pdf.setFont(font, 8)
    pdf.drawString(left, 18 * mm, _("This certificate is free of charge. Verify it by scanning the code or at:"))
    pdf.drawString(left, 13 * mm, verify_url)
    size = 34 * mm
    pdf.drawImage(ImageReader(io.BytesIO(qr.png(verify_url, border=1))), right - size, 22 * mm, size, size)
    pdf.linkURL(verify_url, (right - size, 22 * mm, right, 22 * mm + size), relative=0)


def certificate_pdf(certificate: Certificate, verify_url: str) -> bytes:
    """The certificate as an A4 PDF with the Chinese CID font built into every PDF reader (no font file)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = pdf_font()
    person, community = certificate.person, certificate.community
    records = records_of(certificate)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"{_('Volunteer service certificate')} {certificate.number}")
    pdf.setSubject(certificate.number)
    pdf.setAuthor(community.name)
    width, height = A4
    left, right = 22 * mm, width - 22 * mm

    def page_header() -> float:
        pdf.setFont(font, 22)
        pdf.drawCentredString(width / 2, height - 32 * mm, _("Volunteer service certificate"))
        pdf.setFont(font, 10)
        pdf.drawRightString(right, height - 42 * mm, _("No. %(number)s", number=certificate.number))
        if certificate.revoked_at is not None:
            pdf.setFillColorRGB(0.7, 0.1, 0.1)
            pdf.drawString(left, height - 42 * mm, _("Revoked"))
            pdf.setFillColorRGB(0, 0, 0)
        return height - 54 * mm

    y = page_header()
    pdf.setFont(font, 12)
    lines = [
        (_("Full name"), person.name),
        (_("Volunteer number"), volunteer_number(person)),
        (_("Period"), f"{local_date(certificate.period_from)} – {local_date(certificate.period_to)}"),
        (_("Total service hours"), _("%(hours)s hours", hours=hours_text(certificate.total_minutes))),
    ]
    for label, value in lines:
        pdf.drawString(left, y, f"{label}：{value}")
        y -= 8 * mm
    y -= 2 * mm
    statement = _("This is to certify that %(name)s took part in volunteer service organised by %(community)s "
                  "from %(start)s to %(end)s, %(hours)s hours in all.", name=person.name, community=community.name,
                  start=local_date(certificate.period_from), end=local_date(certificate.period_to),
                  hours=hours_text(certificate.total_minutes))
    for line in wrap(statement, font, 12, right - left):
        pdf.drawString(left, y, line)
        y -= 7 * mm
    y -= 3 * mm
    pdf.setFont(font, 12)
    pdf.drawString(left, y, _("Services"))
    y -= 7 * mm
    pdf.setFont(font, 10)
    for record in records:
        if y < 70 * mm:
            pdf.drawString(left, y, _("Continued on the next page."))
            pdf.showPage()
            y = page_header()
            pdf.setFont(font, 10)
        hours = _("%(hours)s hours", hours=hours_text(record.credited_minutes))
        pdf.drawString(left + 4 * mm, y, record.service_day.isoformat())
        pdf.drawString(left + 32 * mm, y, fit(f"{record.activity} · {record.place}", font, 10, right - left - 60 * mm))
        pdf.drawRightString(right, y, hours)
        y -= 6 * mm
    y = min(y, 78 * mm) - 6 * mm
    pdf.setFont(font, 11)
    footer = [
        (_("Issued by"), community.name),
        (_("Handler"), certificate.handler_name),
        (_("Contact"), certificate.contact),
        (_("Date of issue"), local_date(certificate.issued_at)),
    ]
    for label, value in footer:
        pdf.drawString(left, y, fit(f"{label}：{value}", font, 11, right - left - 40 * mm))
        y -= 7 * mm
    draw_verification(pdf, verify_url, font, left, right)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
