"""Privacy (DESIGN §7): consents, correcting one's own details, under-14s and their guardians, anonymisation.

- Consents live in the profile and start off. `public_consent`: named, masked (王**), on public lists
  (leaderboards, the market's monthly notice, honour rolls). `honour_consent`: "I may be named in honour
  notices" — a nomination of such a person counts as consented at once (as a self-nomination does), so they
  stand as a candidate without being asked; they may still withdraw while nominations are open. Without it,
  each nomination asks the nominee, as before.
- Under-14s (age by the Asia/Shanghai calendar): staff add them only with a guardian, an existing adult
  person. A child under 14 is never given a password: they do not sign in on their own; their guardian
  consents and acts for them. From their 14th birthday staff may set a password as for anyone.
- A person corrects their own name and phone; both changes are audited (masked).
- Anonymising a person who left (staff of their community, with a reason): the name becomes
  "已注销居民 #<id>", the phone a placeholder that is no mobile number, the password unusable, API tokens
  revoked, head posts ended, roles removed, consents off, birth date and guardian cleared, the account
  inactive (its page sessions end). Their points accounts, ledger, service records, attendance and honours
  stay, with every foreign key, so the ledger still balances. The household link stays: it keeps the
  placeholder in the community's scope for its staff and registers.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from domain import accounts, audit, org
from domain.access import require
from domain.errors import Conflict, Invalid, Refused
from domain.ledger import SHANGHAI
from models import (
    Area,
    HeadPost,
    Household,
    Notification,
    Objection,
    Role,
    Task,
    TaskClaim,
    User,
    db,
    mask_name,
    mask_phone,
    utcnow,
)

#: Below this age a guardian is required (PIPL art. 28 and 31: personal information of a child under 14).
MINOR_AGE = 14
#: What an anonymised person is called from then on; the id keeps registers and ledgers readable.
ANONYMOUS_NAME = "已注销居民 #{id}"
#: Never a mainland mobile number, so nobody signs in with it; unique because of the id.
ANONYMOUS_PHONE = "anon-{id}"


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def is_minor(person_or_birth_date: User | date | None, now: datetime | None = None) -> bool:
    """Under 14 today in Shanghai. Unknown birth date: not a minor (adults need not give one)."""
    birth_date = getattr(person_or_birth_date, "birth_date", person_or_birth_date)
    return birth_date is not None and age_on(birth_date, local_today(now)) < MINOR_AGE


def check_minor(birth_date: date | None, guardian: User | None, password: str | None,
                now: datetime | None = None) -> None:
    """The rules for adding a person with a birth date.

    Raises Invalid(birth_date_invalid) for a date in the future, Refused(guardian_required) for an under-14
    without a guardian, Refused(guardian_not_adult) for a guardian who is under 14 or no longer active,
    Refused(minor_no_password) for a password given to an under-14.
    """
    if birth_date is not None and birth_date > local_today(now):
        raise Invalid("birth_date_invalid", _l("The date of birth lies in the future."),
                      {"birth_date": [_l("In the future.")]})
    if guardian is not None and (is_minor(guardian, now) or not guardian.active):
        raise Refused("guardian_not_adult", _l("The guardian must be an adult whose account is active."),
                      {"guardian_phone": [_l("Not an active adult.")]})
    if not is_minor(birth_date, now):
        return
    if guardian is None:
        raise Refused("guardian_required", _l("A child under 14 is added only with a guardian: give the phone "
                                              "number of a parent or guardian who is already registered."),
                      {"guardian_phone": [_l("Required for a child under 14.")]})
    if password:
        raise Refused("minor_no_password", _l("A child under 14 does not sign in on their own: their guardian "
                                              "acts for them. Leave the password empty."),
                      {"password": [_l("Not for a child under 14.")]})


def check_may_have_password(person: User, now: datetime | None = None) -> None:
    """Raises Refused(minor_no_password) for a person under 14."""
    if is_minor(person, now):
        raise Refused("minor_no_password", _l("A child under 14 does not sign in on their own: their guardian "
                                              "acts for them."), {"password": [_l("Not for a child under 14.")]})


def find_guardian(actor: User, phone: str | None) -> User | None:
    """The registered person with this phone, for the guardian field, within what the actor may see.

    Raises Invalid(phone_invalid), Refused(guardian_unknown).
    """
    if not (phone or "").strip():
        return None
    try:
        phone = accounts.normalise_phone(phone)
    except Invalid:
        raise Invalid("phone_invalid", _l("Not a mainland mobile number (11 digits starting with 1)."),
                      {"guardian_phone": [_l("Not a mainland mobile number.")]}) from None
    guardian = db.session.scalar(select(User).where(User.phone == phone))
    if guardian is None or guardian.anonymised_at is not None:
        raise Refused("guardian_unknown", _l("No one is registered with this phone number: add the guardian "
                                             "first."), {"guardian_phone": [_l("Not registered.")]})
    return guardian


def add_person(actor: User, *, name: str, phone: str, password: str | None = None,
               household: Household | None = None, roles: list[tuple[Role, Area | None]] = (),
               birth_date: date | None = None, guardian: User | None = None, now: datetime | None = None) -> User:
    """`accounts.create_person` with a birth date and a guardian, under the under-14 rules of `check_minor`.

    Raises what `check_minor` and `accounts.create_person` raise, NotFound for a guardian out of the actor's
    sight.
    """
    check_minor(birth_date, guardian, password, now)
    if guardian is not None:
        require(actor, "person.view", guardian)
    person = accounts.create_person(actor, name=name, phone=phone, password=password, household=household,
                                    roles=roles, now=now)
    if birth_date is not None or guardian is not None:
        person.birth_date, person.guardian = birth_date, guardian
        db.session.flush()
        audit.record(actor, "person.guardian", person, area_id=audit.person_area_id(person), now=now,
                     after={"minor": is_minor(birth_date, now), "guardian_id": guardian.id if guardian else None})
    return person


def set_password(actor: User, person: User, password: str, now: datetime | None = None) -> None:
    """`accounts.set_password`, refused for a child under 14 and for an anonymised person.

    Raises Refused(minor_no_password), Conflict(already_anonymised) and what `accounts.set_password` raises.
    """
    if person.anonymised_at is not None:
        raise Conflict("already_anonymised", _l("This person has already been anonymised."))
    check_may_have_password(person, now)
    accounts.set_password(actor, person, password)


def set_consents(person: User, *, public: bool, honour: bool, now: datetime | None = None) -> User:
    """The person's own choices; a withdrawal applies at once (public lists read consent when shown)."""
    before = {"public_consent": person.public_consent, "honour_consent": person.honour_consent}
    person.public_consent, person.honour_consent = bool(public), bool(honour)
    after = {"public_consent": person.public_consent, "honour_consent": person.honour_consent}
    db.session.flush()
    if before != after:
        audit.record(person, "person.consent", person, area_id=audit.person_area_id(person), before=before, after=after,
                     now=now)
    return person


def correct_details(person: User, *, name: str, phone: str, actor: User | None = None,
                    now: datetime | None = None) -> User:
    """A person corrects their own name and phone, or staff (`actor`, who checked they may) change them. Audited with
    masked values only, as "person.correct" by the person, "person.edit" by staff.

    Raises Invalid(name_required, name_too_long, phone_invalid), Conflict(phone_taken).
    """
    actor = actor or person
    name = (name or "").strip()
    if not name:
        raise Invalid("name_required", _l("A name is required."), {"name": [_l("Required.")]})
    if len(name) > 50:
        raise Invalid("name_too_long", _l("At most 50 characters."), {"name": [_l("At most 50 characters.")]})
    phone = accounts.normalise_phone(phone)
    if (name, phone) == (person.name, person.phone):
        return person
    before = {"name": person.masked_name, "phone": person.masked_phone}
    person.name, person.phone = name, phone
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # the UNIQUE on phone decides: a number someone else has, now or a moment ago
        raise Conflict("phone_taken", _l("This phone number is already registered."),
                       {"phone": [_l("Already registered to someone else.")]}) from None
    audit.record(actor, "person.correct" if actor.id == person.id else "person.edit", person,
                 area_id=audit.person_area_id(person), before=before,
                 after={"name": mask_name(name), "phone": mask_phone(phone)}, now=now)
    return person


def anonymise(actor: User, person: User, *, reason: str, now: datetime | None = None) -> User:
    """Staff of the person's area anonymise a person who left (see the module docstring for what changes).

    Raises NotFound (outside the actor's scope), Invalid(reason_required), Refused(own_account,
    guardian_of_minor), Conflict(already_anonymised).
    """
    now = now or utcnow()
    require(actor, "person.manage", person)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the person is anonymised, e.g. moved away."),
                      {"reason": [_l("Required.")]})
    if person.id == actor.id:
        raise Refused("own_account", _l("Another staff member anonymises your own account."))
    if person.anonymised_at is not None:
        raise Conflict("already_anonymised", _l("This person has already been anonymised."))
    wards = db.session.scalars(select(User).where(User.guardian_id == person.id, User.anonymised_at.is_(None))).all()
    if any(is_minor(ward, now) for ward in wards):
        raise Refused("guardian_of_minor", _l("This person is the guardian of a child under 14: anonymise the "
                                              "child too, or register another guardian first."))
    area_id = audit.person_area_id(person)
    before = {"roles": sorted(f"{g.role}@{g.area_id or '*'}" for g in person.grants),
              "name": person.masked_name, "phone": person.masked_phone}
    for post in db.session.scalars(select(HeadPost).where(HeadPost.user_id == person.id, HeadPost.until.is_(None))):
        org.end_head_post(actor, post, reason=reason, now=now)
    person.grants.clear()
    accounts.end_everything(person, now)
    placeholder = ANONYMOUS_NAME.format(id=person.id)
    # The name signed under an objection is the person's real name: it goes too.
    db.session.execute(update(Objection).where(Objection.objector_id == person.id).values(real_name=placeholder))
    _forget_name_in_notifications(person, placeholder)
    person.name, person.phone = placeholder, ANONYMOUS_PHONE.format(id=person.id)
    person.password_hash = None
    person.active = False
    person.public_consent = person.honour_consent = False
    person.birth_date = person.guardian_id = None
    person.anonymised_at = now
    for ward in wards:
        ward.guardian_id = None
    db.session.flush()
    audit.record(actor, "person.anonymise", person, area_id=area_id, reason=reason, now=now, before=before,
                 after={"name": placeholder})
    return person


def _forget_name_in_notifications(person: User, placeholder: str) -> None:
    """A resident was told by name who took on their need ("task.claimed"): that name goes too."""
    claimed = select(TaskClaim.task_id).where(TaskClaim.user_id == person.id)
    told = select(Notification).where(Notification.kind == "task.claimed", Notification.user_id.in_(
        select(Task.resident_id).where(Task.id.in_(claimed))))
    for note in db.session.scalars(told):
        if (note.params or {}).get("name") == person.name:
            note.params = {**note.params, "name": placeholder}

