"""Honour campaigns: every phase rule and refusal, votes under concurrency, suspicious patterns, the public notice
and objections, the announcement paying once, certificates, the CLI jobs and the API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from domain import honours, ledger, org, rules
from domain.errors import DomainError
from domain.ledger import SHANGHAI
from models import (
    Area,
    AuditEvent,
    Ballot,
    Campaign,
    FlagStatus,
    Honour,
    HoursMonthly,
    Nomination,
    NominationStatus,
    Phase,
    Transaction,
    TxnKind,
    User,
    Vote,
    db,
)
from tests.conftest import run_concurrently, token_for

#: Monday 2 November 2026, 09:00 in Beijing.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
OPENED = T0 - timedelta(hours=1)
NOMINATING = T0 + timedelta(hours=2)
VOTES_OPEN = T0 + timedelta(days=7)
VOTING = T0 + timedelta(days=8)
VOTES_CLOSE = T0 + timedelta(days=14)
REVIEWING = T0 + timedelta(days=15)
LONG_AGO = T0 - timedelta(days=400)


def schedule(**overrides) -> honours.CampaignForm:
    values = dict(kind="good_neighbour", title="2026年度社区好人", nominate_from=T0,
                  nominate_until=T0 + timedelta(days=7), vote_from=VOTES_OPEN, vote_until=VOTES_CLOSE)
    return honours.CampaignForm(**{**values, **overrides})


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


class World:
    """Community A's people and helpers that take a campaign through its phases at fixed times."""

    def __init__(self, tree, make_user, make_area):
        self.tree, self.make_user, self.make_area = tree, make_user, make_area
        merge = db.session.merge
        self.street = merge(tree.street)
        self.community, self.grid = merge(tree.a.community), merge(tree.a.grid)
        self.building, self.unit, self.household = merge(tree.a.building), merge(tree.a.unit), merge(tree.a.household)
        self.staff, self.staff_b, self.street_staff = merge(tree.staff_a), merge(tree.staff_b), merge(tree.street_staff)
        self.volunteer, self.head, self.resident_b = merge(tree.volunteer_a), merge(tree.head_a), merge(tree.resident_b)
        self.volunteer.created_at = self.head.created_at = LONG_AGO
        self._n = 0

    def resident(self, name: str | None = None, *, created_at: datetime = LONG_AGO, household=None) -> User:
        self._n += 1
        return self.make_user(name or f"居民{self._n}", household=household or self.household,
                              roles=[("resident", self.community)], created_at=created_at)

    def campaign(self, area: Area | None = None, **overrides) -> Campaign:
        campaign = honours.open_campaign(self.staff if area is None else self.street_staff, area or self.community,
                                         schedule(**overrides), now=OPENED)
        db.session.commit()
        return campaign

    def candidate(self, campaign: Campaign, nominee: User | None = None, by: User | None = None,
                  at: datetime = NOMINATING) -> Nomination:
        nominee = nominee or self.resident()
        nomination = honours.nominate(by or self.volunteer, campaign, nominee, reason="热心帮助邻居", now=at)
        honours.answer(nominee, nomination, consent=True, now=at)
        db.session.commit()
        return nomination

    def boss(self, campaign: Campaign) -> User:
        """The staff member who runs the campaign: community staff, or street staff for a street's."""
        return self.staff if honours.can_manage(self.staff, campaign) else self.street_staff

    def to(self, campaign: Campaign, phase: Phase, at: datetime | None = None) -> Campaign:
        """Move the campaign on by hand, each step at the first moment its rules allow."""
        while campaign.phase != phase:
            moment = at or {Phase.nomination: VOTES_OPEN, Phase.voting: VOTES_CLOSE, Phase.review: REVIEWING,
                            Phase.notice: campaign.notice_until}[campaign.phase]
            honours.advance(self.boss(campaign), campaign, now=moment)
            db.session.commit()
        return campaign

    def shortlist(self, campaign: Campaign, *nominations: Nomination) -> None:
        boss = self.boss(campaign)
        for nomination in nominations:
            honours.decide(boss, nomination, shortlist=True, note="群众基础好，服务时长多", now=REVIEWING)
        for other in honours.nominations(campaign, [NominationStatus.confirmed]):
            honours.decide(boss, other, shortlist=False, note="票数较少", now=REVIEWING)
        db.session.commit()


@pytest.fixture
def w(dbs, tree, make_user, make_area):
    return World(tree, make_user, make_area)


# --- opening -------------------------------------------------------------------------------------------------------

def test_staff_open_campaigns_for_their_area_with_the_defaults(w):
    campaign = honours.open_campaign(w.staff, w.community, schedule(kind="best_head", title=""), now=OPENED)
    assert (campaign.phase, campaign.title, campaign.votes_per_voter) == (Phase.nomination, "最美三长", 3)
    assert campaign.seats == {"1": 1, "2": 8, "3": 8} and campaign.notice_days == 5
    assert campaign.points == 100  # the community's "honour.award" rule
    assert campaign.review_until == VOTES_CLOSE + timedelta(days=3)
    street = honours.open_campaign(w.street_staff, w.street, schedule(seats=4), now=OPENED)
    assert street.seats == {"0": 4}
    same = honours.open_campaign(w.staff, w.community, schedule(kind="best_head", seats=2), now=OPENED)
    assert same.seats == {"1": 2, "2": 2, "3": 2}  # the first contract's one number: the same for every tier
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == campaign.id)) == "campaign.open"


def test_the_points_default_follows_the_communitys_rule(w):
    rules.set_rule(w.staff, w.community, "honour.award", 150, now=OPENED - timedelta(days=1))
    assert honours.open_campaign(w.staff, w.community, schedule(), now=OPENED).points == 150
    assert honours.open_campaign(w.staff, w.community, schedule(points=0), now=OPENED).points == 0


@pytest.mark.parametrize("who", ["staff_b", "volunteer", "head"])
def test_only_staff_of_the_area_open_campaigns(w, who):
    assert code_of(lambda: honours.open_campaign(getattr(w, who), w.community, schedule(), now=OPENED)) == "not_found"


def test_a_campaign_covers_a_street_community_estate_or_grid(w):
    assert honours.open_campaign(w.staff, w.grid, schedule(), now=OPENED).area_id == w.grid.id
    assert code_of(lambda: honours.open_campaign(w.staff, w.unit, schedule(), now=OPENED)) == "scope_invalid"


@pytest.mark.parametrize(("overrides", "code"), [
    ({"kind": "best_person"}, "kind_invalid"),
    ({"kind": "custom", "title": " "}, "title_invalid"),
    ({"vote_from": T0 + timedelta(days=6)}, "dates_invalid"),
    ({"vote_until": VOTES_OPEN}, "dates_invalid"),
    ({"review_until": VOTES_CLOSE - timedelta(hours=1)}, "dates_invalid"),
    ({"nominate_from": OPENED - timedelta(days=9), "nominate_until": OPENED - timedelta(days=1)}, "dates_invalid"),
    ({"nominate_from": T0.replace(tzinfo=None)}, "dates_invalid"),
    ({"vote_until": datetime(9999, 12, 31, 23, tzinfo=UTC)}, "dates_invalid"),
    ({"nominate_from": datetime(1, 1, 1, tzinfo=UTC)}, "dates_invalid"),
    ({"votes_per_voter": 0}, "votes_invalid"),
    ({"votes_per_voter": 21}, "votes_invalid"),
    ({"notice_days": 0}, "notice_days_invalid"),
    ({"points": -1}, "points_invalid"),
    ({"seats": 0}, "seats_invalid"),
    ({"seats": {1: 2}}, "seats_invalid"),
    ({"kind": "best_head", "seats": {4: 1}}, "seats_invalid"),
    ({"kind": "best_head", "seats": {1: 0, 2: 0}}, "seats_invalid"),
    ({"kind": "best_head", "seats": 0}, "seats_invalid"),
    ({"kind": "best_head", "seats": True}, "seats_invalid"),
])
def test_bad_campaigns_are_refused_naming_the_field(w, overrides, code):
    with pytest.raises(DomainError) as caught:
        honours.open_campaign(w.staff, w.community, schedule(**overrides), now=OPENED)
    assert caught.value.code == code and caught.value.fields
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


# --- nominations -----------------------------------------------------------------------------------------------------

def test_a_nominee_is_shown_only_after_consenting(w):
    campaign = w.campaign()
    nominee, neighbour = w.resident("王秀英"), w.resident()
    nomination = honours.nominate(w.volunteer, campaign, nominee, reason="常年照顾独居老人", now=NOMINATING)
    assert nomination.status == NominationStatus.pending
    assert not honours.can_see_nomination(neighbour, nomination)
    assert honours.can_see_nomination(nominee, nomination) and honours.can_see_nomination(w.staff, nomination)
    honours.answer(nominee, nomination, consent=True, now=NOMINATING)
    assert nomination.status == NominationStatus.confirmed and honours.can_see_nomination(neighbour, nomination)
    assert not honours.can_see_nomination(w.resident_b, nomination)


def test_only_the_nominee_answers_and_only_once(w):
    campaign = w.campaign()
    nominee = w.resident()
    nomination = honours.nominate(w.volunteer, campaign, nominee, reason="热心", now=NOMINATING)
    assert code_of(lambda: honours.answer(w.volunteer, nomination, consent=True, now=NOMINATING)) == "not_the_nominee"
    honours.answer(nominee, nomination, consent=False, now=NOMINATING)
    assert nomination.status == NominationStatus.declined and not nomination.is_public
    assert code_of(lambda: honours.answer(nominee, nomination, consent=True, now=NOMINATING)) == "already_answered"


def test_a_nominee_may_withdraw_before_voting(w):
    campaign = w.campaign()
    nomination = w.candidate(campaign)
    honours.withdraw(nomination.nominee, nomination, now=NOMINATING)
    assert nomination.status == NominationStatus.withdrawn
    assert code_of(lambda: honours.withdraw(nomination.nominee, nomination, now=NOMINATING)) == "not_a_candidate"


def test_best_head_nominees_hold_a_head_post_in_scope_in_a_tier_with_seats(w):
    campaign = w.campaign(kind="best_head", title="2026年度最美三长", seats={1: 1, 2: 8})
    unit_head, building_head, plain = w.resident("单元长"), w.resident("楼栋长"), w.resident()
    org.appoint_head(w.staff, w.unit, unit_head, now=LONG_AGO)
    post = org.appoint_head(w.staff, w.building, building_head, now=LONG_AGO)
    head_b = w.make_user("南湖楼栋长", household=w.tree.b.household, roles=[("resident", w.tree.b.community)])
    org.appoint_head(w.staff_b, db.session.merge(w.tree.b.building), head_b, now=LONG_AGO)
    nominate = lambda person: honours.nominate(w.volunteer, campaign, person, reason="尽职", now=NOMINATING)  # noqa: E731
    assert code_of(lambda: nominate(plain)) == "nominee_not_eligible"
    assert code_of(lambda: nominate(unit_head)) == "nominee_not_eligible"  # no seats for unit heads
    assert code_of(lambda: nominate(head_b)) == "nominee_not_eligible"  # a head, but of community B
    nomination = nominate(building_head)
    assert (nomination.tier, nomination.head_area_id) == (2, w.building.id)
    org.end_head_post(w.staff, post, reason="搬走了", now=NOMINATING)
    other = honours.open_campaign(w.staff, w.community, schedule(kind="best_head"), now=OPENED)
    assert code_of(lambda: honours.nominate(w.volunteer, other, building_head, reason="尽职", now=NOMINATING)) \
        == "nominee_not_eligible"


def test_good_neighbours_live_in_scope(w):
    campaign = w.campaign()
    for outsider in (w.resident_b, w.staff):
        assert code_of(lambda p=outsider: honours.nominate(w.volunteer, campaign, p, reason="好", now=NOMINATING)) \
            == "nominee_not_eligible"


def test_who_may_nominate(w):
    campaign = w.campaign()
    assert code_of(lambda: honours.nominate(w.resident_b, campaign, w.resident(), reason="好", now=NOMINATING)) \
        == "not_in_scope"
    assert honours.nominate(w.staff, campaign, w.resident(), reason="好", now=NOMINATING)
    assert honours.nominate(w.head, campaign, w.resident(), reason="好", now=NOMINATING)


def test_self_nomination_only_where_the_campaign_allows_it_and_counts_as_consent(w):
    closed, open_ = w.campaign(), w.campaign(self_nomination=True)
    me = w.resident()
    assert code_of(lambda: honours.nominate(me, closed, me, reason="我愿意服务", now=NOMINATING)) \
        == "self_nomination_not_allowed"
    assert honours.nominate(me, open_, me, reason="我愿意服务", now=NOMINATING).status == NominationStatus.confirmed


def test_a_person_is_nominated_once_per_campaign(w):
    campaign = w.campaign()
    nominee = w.resident()
    honours.nominate(w.volunteer, campaign, nominee, reason="好", now=NOMINATING)
    assert code_of(lambda: honours.nominate(w.head, campaign, nominee, reason="也好", now=NOMINATING)) \
        == "already_nominated"


@pytest.mark.parametrize("at", [T0 - timedelta(minutes=1), T0 + timedelta(days=7)])
def test_nominations_only_inside_their_window(w, at):
    campaign = w.campaign()
    assert code_of(lambda: honours.nominate(w.volunteer, campaign, w.resident(), reason="好", now=at)) \
        == "phase_closed"


@pytest.mark.parametrize(("reason", "photos", "code"), [
    ("  ", [], "reason_required"), ("好" * 1001, [], "reason_required"),
    ("好", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"], "too_many_photos")])
def test_a_nomination_needs_a_reason_and_at_most_three_photos(w, reason, photos, code):
    campaign = w.campaign()
    assert code_of(lambda: honours.nominate(w.volunteer, campaign, w.resident(), reason=reason, photos=photos,
                                            now=NOMINATING)) == code


def test_a_nominee_who_did_not_answer_lapses_when_voting_opens(w):
    campaign = w.campaign()
    w.candidate(campaign)
    silent = honours.nominate(w.volunteer, campaign, w.resident(), reason="好", now=NOMINATING)
    w.to(campaign, Phase.voting)
    db.session.refresh(silent)
    assert silent.status == NominationStatus.lapsed
    assert code_of(lambda: honours.answer(silent.nominee, silent, consent=True, now=VOTING)) == "phase_closed"


# --- phases --------------------------------------------------------------------------------------------------------

def test_every_phase_moves_by_hand_only_when_its_rules_allow(w):
    campaign = w.campaign()
    advance = lambda at: honours.advance(w.staff, campaign, now=at)  # noqa: E731
    assert code_of(lambda: advance(NOMINATING)) == "phase_not_finished"  # nominations still open
    assert code_of(lambda: advance(VOTES_OPEN)) == "phase_not_finished"  # nobody has consented
    first, second = w.candidate(campaign), w.candidate(campaign)
    advance(VOTES_OPEN)
    assert campaign.phase == Phase.voting
    assert code_of(lambda: advance(VOTES_CLOSE - timedelta(seconds=1))) == "phase_not_finished"
    advance(VOTES_CLOSE)
    assert campaign.phase == Phase.review
    with pytest.raises(DomainError) as caught:
        advance(REVIEWING)
    assert caught.value.code == "phase_not_finished" and "2" in caught.value.message
    honours.decide(w.staff, first, shortlist=False, note="票少", now=REVIEWING)
    honours.decide(w.staff, second, shortlist=False, note="票少", now=REVIEWING)
    assert code_of(lambda: advance(REVIEWING)) == "phase_not_finished"  # nobody shortlisted
    honours.decide(w.staff, second, shortlist=True, note="改为入围", now=REVIEWING)
    advance(REVIEWING)
    assert campaign.phase == Phase.notice and campaign.notice_from == REVIEWING
    assert code_of(lambda: advance(campaign.notice_until - timedelta(seconds=1))) == "phase_not_finished"
    objection = honours.lodge_objection(w.volunteer, campaign, second, reason="有违规行为", real_name=w.volunteer.name,
                                        now=REVIEWING + timedelta(hours=1))
    assert code_of(lambda: advance(campaign.notice_until)) == "phase_not_finished"  # an objection is open
    honours.handle_objection(w.staff, objection, upheld=False, note="经核实不属实", now=campaign.notice_until)
    advance(campaign.notice_until)
    assert campaign.phase == Phase.announced
    assert code_of(lambda: advance(campaign.notice_until)) == "already_announced"
    moves = db.session.scalars(select(AuditEvent.after).where(AuditEvent.action == "campaign.advance")
                               .order_by(AuditEvent.id)).all()
    assert [m["phase"] for m in moves] == ["voting", "review", "notice", "announced"]


def test_staff_opening_voting_early_open_it_at_that_moment(w):
    campaign = w.campaign(vote_from=T0 + timedelta(days=9), vote_until=T0 + timedelta(days=16))
    w.candidate(campaign)
    honours.advance(w.staff, campaign, now=T0 + timedelta(days=7, hours=1))
    assert campaign.vote_from == T0 + timedelta(days=7, hours=1)


@pytest.mark.parametrize(("who", "code"), [("volunteer", "not_staff"), ("staff_b", "not_found")])
def test_only_staff_of_the_campaign_advance_it(w, who, code):
    campaign = w.campaign()
    w.candidate(campaign)
    assert code_of(lambda: honours.advance(getattr(w, who), campaign, now=VOTES_OPEN)) == code


@pytest.mark.parametrize(("posted", "ends"), [
    (datetime(2026, 11, 2, 10, 0), datetime(2026, 11, 10)),  # Monday: Tue to Mon → until Tuesday 00:00
    (datetime(2026, 11, 6, 16, 0), datetime(2026, 11, 14)),  # Friday: Mon to Fri next week → until Saturday 00:00
    (datetime(2026, 11, 7, 9, 0), datetime(2026, 11, 14)),  # Saturday: Mon to Fri
    (datetime(2026, 11, 8, 23, 59), datetime(2026, 11, 14)),  # Sunday night
])
def test_the_public_notice_lasts_five_working_days_from_the_day_after(posted, ends):
    start = posted.replace(tzinfo=SHANGHAI).astimezone(UTC)
    assert honours.notice_end(start, 5) == ends.replace(tzinfo=SHANGHAI)
    assert honours.notice_end(start, 1) > start


def test_the_schedule_moves_campaigns_by_date_and_running_it_again_changes_nothing(w):
    campaign = w.campaign()
    empty = w.campaign(title="无人提名")
    nomination = w.candidate(campaign)
    assert honours.advance_due(now=VOTES_OPEN - timedelta(seconds=1)).moved == []
    report = honours.advance_due(now=VOTES_OPEN)
    assert report.moved == [(campaign.id, Phase.nomination, Phase.voting)]
    assert [(cid, phase) for cid, phase, _why in report.waiting] == [(empty.id, Phase.nomination)]
    assert honours.advance_due(now=VOTES_OPEN).moved == []
    honours.cast_vote(w.resident(), nomination, now=VOTING)
    db.session.commit()
    assert honours.advance_due(now=VOTES_CLOSE).moved == [(campaign.id, Phase.voting, Phase.review)]
    review_ends = campaign.review_until
    honours.decide(w.staff, db.session.get(Nomination, nomination.id), shortlist=True, note="入围", now=REVIEWING)
    db.session.commit()
    assert honours.advance_due(now=review_ends - timedelta(seconds=1)).moved == []  # staff may, the schedule waits
    assert honours.advance_due(now=review_ends).moved == [(campaign.id, Phase.review, Phase.notice)]
    notice_ends = db.session.get(Campaign, campaign.id).notice_until
    assert honours.advance_due(now=notice_ends).moved == [(campaign.id, Phase.notice, Phase.announced)]
    assert honours.advance_due(now=notice_ends + timedelta(days=30)).moved == []
    assert db.session.scalar(select(func.count()).select_from(Honour)) == 1


def test_the_schedule_waits_for_the_announcement_date(w):
    campaign = w.campaign(announce_at=T0 + timedelta(days=60))
    nomination = w.candidate(campaign)
    w.to(campaign, Phase.review)
    w.shortlist(campaign, nomination)
    w.to(campaign, Phase.notice)
    assert honours.advance_due(now=campaign.notice_until).moved == []
    assert honours.advance_due(now=T0 + timedelta(days=60)).moved[-1][2] == Phase.announced


def test_two_staff_advancing_at_once_move_the_campaign_once(app, threaded_app, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign = w.campaign()
        w.candidate(campaign)
        campaign_id = campaign.id

    def advance(_i):
        return honours.advance(db.session.get(User, tree.staff_a.id), db.session.get(Campaign, campaign_id),
                               now=VOTES_OPEN).phase.value

    outcomes = Counter(r if isinstance(r, str) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, advance, 8))
    assert outcomes["voting"] == 1 and outcomes["phase_not_finished"] == 7, outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "campaign.advance")) == 1


# --- votes -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def voting(w):
    """A campaign in its voting phase with three candidates."""
    campaign = w.campaign()
    candidates = [w.candidate(campaign) for _ in range(3)]
    w.to(campaign, Phase.voting)
    return SimpleNamespace(campaign=campaign, candidates=candidates)


def test_a_vote_counts_once_and_the_tally_equals_the_rows(w, voting):
    voter = w.resident()
    first = voting.candidates[0]
    honours.cast_vote(voter, first, now=VOTING)
    assert code_of(lambda: honours.cast_vote(voter, first, now=VOTING)) == "already_voted"
    honours.cast_vote(w.volunteer, first, now=VOTING)
    assert first.votes == 2 == db.session.scalar(select(func.count()).select_from(Vote)
                                                 .where(Vote.nomination_id == first.id))
    assert honours.votes_left(voting.campaign, voter) == 2 and honours.voted_for(voting.campaign, voter) == {first.id}
    assert honours.verify(voting.campaign) == []


def test_nobody_votes_for_themself(voting):
    nomination = voting.candidates[0]
    assert code_of(lambda: honours.cast_vote(nomination.nominee, nomination, now=VOTING)) == "own_nomination"


@pytest.mark.parametrize(("who", "code"), [("resident_b", "not_in_scope"), ("staff", "not_in_scope"),
                                           ("street_staff", "not_in_scope")])
def test_only_residents_in_scope_vote(w, voting, who, code):
    assert code_of(lambda: honours.cast_vote(getattr(w, who), voting.candidates[0], now=VOTING)) == code


@pytest.mark.parametrize("at", [VOTES_OPEN - timedelta(seconds=1), VOTES_CLOSE])
def test_votes_only_inside_the_voting_window(w, voting, at):
    assert code_of(lambda: honours.cast_vote(w.resident(), voting.candidates[0], now=at)) == "phase_closed"


def test_votes_before_the_voting_phase_are_refused(w):
    campaign = w.campaign()
    nomination = w.candidate(campaign)
    assert code_of(lambda: honours.cast_vote(w.resident(), nomination, now=VOTING)) == "phase_closed"


def test_a_voter_has_votes_per_voter_and_no_more(w):
    campaign = w.campaign(votes_per_voter=2)
    candidates = [w.candidate(campaign) for _ in range(3)]
    w.to(campaign, Phase.voting)
    voter = w.resident()
    for nomination in candidates[:2]:
        honours.cast_vote(voter, nomination, now=VOTING)
    assert code_of(lambda: honours.cast_vote(voter, candidates[2], now=VOTING)) == "no_votes_left"
    assert candidates[2].votes == 0 and honours.votes_left(campaign, voter) == 0
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 2


def test_a_lapsed_or_declined_nomination_takes_no_votes(w):
    campaign = w.campaign()
    w.candidate(campaign)
    silent = honours.nominate(w.volunteer, campaign, w.resident(), reason="好", now=NOMINATING)
    declined = honours.nominate(w.volunteer, campaign, w.resident(), reason="好", now=NOMINATING)
    honours.answer(declined.nominee, declined, consent=False, now=NOMINATING)
    w.to(campaign, Phase.voting)
    for nomination in (silent, declined):
        db.session.refresh(nomination)
        assert code_of(lambda n=nomination: honours.cast_vote(w.resident(), n, now=VOTING)) == "not_found"
        assert code_of(lambda n=nomination: honours.cast_vote(w.volunteer, n, now=VOTING)) == "not_a_candidate"


def _voting_campaign(w, candidates: int) -> tuple[int, list[int]]:
    campaign = w.campaign()
    ids = [w.candidate(campaign).id for _ in range(candidates)]
    w.to(campaign, Phase.voting)
    return campaign.id, ids


def test_fifty_concurrent_duplicate_votes_count_once(app, threaded_app, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign_id, (nomination_id,) = _voting_campaign(w, 1)
        voter_id = w.resident("抢票人").id
        db.session.commit()

    def vote(_i):
        return honours.cast_vote(db.session.get(User, voter_id), db.session.get(Nomination, nomination_id),
                                 now=VOTING).id

    outcomes = Counter("voted" if isinstance(r, int) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, vote, 50))
    assert outcomes == {"voted": 1, "already_voted": 49}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Vote)) == 1
        assert db.session.get(Nomination, nomination_id).votes == 1
        assert db.session.scalar(select(Ballot.used).where(Ballot.voter_id == voter_id)) == 1
        assert honours.verify() == []


def test_a_voter_with_three_votes_firing_ten_at_once_casts_three(app, threaded_app, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign_id, ids = _voting_campaign(w, 10)
        voter_id = w.resident("急性子").id
        db.session.commit()

    def vote(i):
        return honours.cast_vote(db.session.get(User, voter_id), db.session.get(Nomination, ids[i]), now=VOTING).id

    outcomes = Counter("voted" if isinstance(r, int) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, vote, 10))
    assert outcomes == {"voted": 3, "no_votes_left": 7}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Vote).where(Vote.voter_id == voter_id)) == 3
        assert sum(db.session.get(Nomination, i).votes for i in ids) == 3
        assert honours.votes_left(db.session.get(Campaign, campaign_id), db.session.get(User, voter_id)) == 0
        assert honours.verify() == []


def test_many_voters_at_once_keep_every_tally_equal_to_its_rows(app, threaded_app, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign_id, ids = _voting_campaign(w, 2)
        voters = [w.resident(f"投票人{i}").id for i in range(30)]
        db.session.commit()

    def vote(i):
        return honours.cast_vote(db.session.get(User, voters[i]), db.session.get(Nomination, ids[i % 2]),
                                 now=VOTING + timedelta(hours=i)).id

    assert all(isinstance(r, int) for r in run_concurrently(threaded_app, vote, 30))
    with app.app_context():
        assert [db.session.get(Nomination, i).votes for i in ids] == [15, 15]
        assert honours.verify() == []


def test_verify_reports_a_tally_that_drifted_from_its_rows(w, voting):
    honours.cast_vote(w.resident(), voting.candidates[0], now=VOTING)
    db.session.execute(update(Nomination).where(Nomination.id == voting.candidates[0].id).values(votes=5))
    db.session.execute(update(Ballot).values(used=7))
    problems = honours.verify()
    assert any("tally 5 but 1 vote row" in p for p in problems)
    assert any("7 used but 1 vote row" in p for p in problems) and any("only 3 allowed" in p for p in problems)


# --- suspicious votes ------------------------------------------------------------------------------------------------

def _burst(w, nomination, count: int, *, new: bool = True, start: datetime = VOTING,
           every: timedelta = timedelta(minutes=2)) -> list[User]:
    """`count` accounts vote for the nomination, one every `every` from `start`; new ones were made the day before."""
    voters = [w.resident(f"新用户{i}", created_at=VOTING - timedelta(days=1 if new else 30)) for i in range(count)]
    for n, voter in enumerate(voters):
        honours.cast_vote(voter, nomination, now=start + n * every)
    return voters


def test_a_burst_of_new_accounts_for_one_nominee_is_flagged_with_the_evidence_and_still_counted(w, voting):
    target, other = voting.candidates[0], voting.candidates[1]
    honours.cast_vote(w.volunteer, target, now=VOTING)  # an old account: not part of the pattern
    _burst(w, target, 4)  # at 0, 2, 4 and 6 minutes
    assert honours.flags(voting.campaign) == []
    _burst(w, target, 2, start=VOTING + timedelta(minutes=8))  # the fifth in ten minutes raises the flag
    (flag,) = honours.flags(voting.campaign)
    assert (flag.nomination_id, flag.pattern, flag.status) == (target.id, "new_accounts_burst", FlagStatus.open)
    evidence = honours.flag_votes(flag)
    assert len(evidence) == 6 and all(v.voter.created_at > VOTING - timedelta(days=7) for v in evidence)
    assert target.votes == 7 and honours.discounted(voting.campaign) == {}  # counted until staff decide
    _burst(w, other, 5, new=False)  # old accounts
    _burst(w, other, 5, start=VOTING + timedelta(hours=1), every=timedelta(minutes=3))  # new, but over 12 minutes
    assert len(honours.flags(voting.campaign)) == 1


def test_staff_discount_flagged_votes_with_a_note_and_the_rows_stay(w, voting):
    target = voting.candidates[0]
    _burst(w, target, 5)
    (flag,) = honours.flags(voting.campaign)
    assert code_of(lambda: honours.decide_flag(w.staff, flag, discount=True, note=" ", now=VOTING)) == "note_required"
    assert code_of(lambda: honours.decide_flag(w.volunteer, flag, discount=True, note="x", now=VOTING)) == "not_staff"
    honours.decide_flag(w.staff, flag, discount=True, note="同一时段新注册账号集中投票，经电话核实为刷票",
                        now=VOTING + timedelta(hours=1))
    (tally,) = [t for t in honours.tallies(voting.campaign) if t.nomination.id == target.id]
    assert (tally.votes, tally.flagged, tally.discounted, tally.counted) == (5, 5, 5, 0)
    assert honours.verify(voting.campaign) == []
    assert code_of(lambda: honours.decide_flag(w.staff, flag, discount=False, note="x", now=VOTING)) \
        == "already_decided"
    assert db.session.scalar(select(AuditEvent.reason).where(AuditEvent.action == "vote_flag.discount"))


def test_an_open_flag_holds_the_review_and_kept_votes_count(w, voting):
    target = voting.candidates[0]
    _burst(w, target, 5)
    w.to(voting.campaign, Phase.review)
    w.shortlist(voting.campaign, target)
    with pytest.raises(DomainError) as caught:
        honours.advance(w.staff, voting.campaign, now=REVIEWING)
    assert caught.value.code == "phase_not_finished" and "1" in caught.value.message
    (flag,) = honours.flags(voting.campaign)
    honours.decide_flag(w.staff, flag, discount=False, note="经核实为新搬来的住户", now=REVIEWING)
    honours.advance(w.staff, voting.campaign, now=REVIEWING)
    assert voting.campaign.phase == Phase.notice
    assert [t.counted for t in honours.tallies(voting.campaign) if t.nomination.id == target.id] == [5]
    assert code_of(lambda: honours.decide_flag(w.staff, flag, discount=True, note="x", now=REVIEWING)) \
        == "phase_closed"


# --- review --------------------------------------------------------------------------------------------------------

def test_staff_shortlist_within_the_seats_with_a_note_and_may_change_their_mind(w):
    campaign = w.campaign(seats=1)
    first, second = w.candidate(campaign), w.candidate(campaign)
    assert code_of(lambda: honours.decide(w.staff, first, shortlist=True, note="入围", now=NOMINATING)) \
        == "phase_closed"
    w.to(campaign, Phase.review)
    assert code_of(lambda: honours.decide(w.staff, first, shortlist=True, note="", now=REVIEWING)) == "note_required"
    assert code_of(lambda: honours.decide(w.volunteer, first, shortlist=True, note="x", now=REVIEWING)) \
        == "not_staff"
    honours.decide(w.staff, first, shortlist=True, note="服务时长最多", now=REVIEWING)
    assert code_of(lambda: honours.decide(w.staff, second, shortlist=True, note="也好", now=REVIEWING)) \
        == "seats_full"
    honours.decide(w.staff, first, shortlist=False, note="重新评议", now=REVIEWING)
    honours.decide(w.staff, second, shortlist=True, note="重新评议后入围", now=REVIEWING)
    assert (first.status, second.status) == (NominationStatus.passed_over, NominationStatus.shortlisted)
    assert second.decision_note == "重新评议后入围" and second.decided_by_id == w.staff.id
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("nomination.%"))).all()
    assert sorted(actions) == ["nomination.pass_over", "nomination.shortlist", "nomination.shortlist"]


def test_best_head_seats_are_per_tier(w):
    campaign = w.campaign(kind="best_head", title="最美三长", seats={1: 1, 2: 1, 3: 1})
    heads = []
    for area in (w.unit, w.building):
        person = w.resident()
        org.appoint_head(w.staff, area, person, now=LONG_AGO)
        heads.append(w.candidate(campaign, person))
    w.to(campaign, Phase.review)
    for nomination in heads:
        honours.decide(w.staff, nomination, shortlist=True, note="尽职尽责", now=REVIEWING)
    assert {n.tier for n in honours.shortlist(campaign)} == {2, 3}


def test_the_review_shows_each_nominees_hours_points_and_tasks_over_twelve_months(w):
    from models.tasks import Channel, Task, TaskStatus

    campaign = w.campaign()
    busy, quiet = w.candidate(campaign), w.candidate(campaign)
    person = busy.nominee
    for month, minutes in ((202611, 120), (202512, 60), (202511, 600)):  # the last is thirteen months back
        db.session.add(HoursMonthly(person_id=person.id, community_id=w.community.id, month=month, minutes=minutes))
    ledger.credit(person, w.community, 40, kind=TxnKind.service, key="t:1", now=T0 - timedelta(days=20))
    ledger.credit(person, w.community, 999, kind=TxnKind.service, key="t:2", now=T0 - timedelta(days=400))
    for decided in (T0 - timedelta(days=10), T0 - timedelta(days=500)):
        db.session.add(Task(community_id=w.community.id, area_id=w.unit.id, poster_id=w.volunteer.id,
                            channel=Channel.online, category="repairs", title="修水龙头", description="漏水",
                            status=TaskStatus.approved, tier=3, start_tier=3, claimant_id=person.id,
                            decided_at=decided, posted_at=decided - timedelta(days=1)))
    db.session.flush()
    assert honours.figure_months(campaign) == (202512, 202611)
    found = honours.figures(campaign, [busy, quiet])
    assert found[busy.id] == honours.Figures(minutes=180, points=40, tasks=1)
    assert found[quiet.id] == honours.Figures(0, 0, 0)


# --- public notice and objections ----------------------------------------------------------------------------------

@pytest.fixture
def notice(w):
    """A campaign in its public notice with one shortlisted nominee (and one passed over)."""
    campaign = w.campaign()
    chosen, other = w.candidate(campaign), w.candidate(campaign)
    w.to(campaign, Phase.review)
    w.shortlist(campaign, chosen)
    w.to(campaign, Phase.notice)
    return SimpleNamespace(campaign=campaign, chosen=chosen, other=other,
                           during=campaign.notice_from + timedelta(hours=2))


def test_an_objection_is_taken_from_a_resident_in_scope_under_their_real_name(w, notice):
    objector = w.resident("李桂兰")
    lodge = lambda who, name, at=notice.during, target=notice.chosen: honours.lodge_objection(  # noqa: E731
        who, notice.campaign, target, reason="此人曾与邻居争吵", real_name=name, now=at)
    assert code_of(lambda: lodge(None, "")) == "anonymous_objection"
    assert code_of(lambda: lodge(objector, "")) == "real_name_required"
    assert code_of(lambda: lodge(objector, "匿名")) == "real_name_required"
    assert code_of(lambda: lodge(w.resident_b, w.resident_b.name)) == "not_in_scope"
    assert code_of(lambda: lodge(objector, "李桂兰", target=notice.other)) == "not_found"  # not on the list
    objection = lodge(objector, " 李 桂兰 ")
    assert (objection.real_name, objection.status.value) == ("李桂兰", "open")
    assert code_of(lambda: lodge(objector, "李桂兰")) == "already_objected"


@pytest.mark.parametrize("moment", ["before", "at_the_end", "after_announcing"])
def test_objections_outside_the_window_are_refused(w, notice, moment):
    objector = w.resident("张建国")
    if moment == "before":
        campaign = w.campaign(title="还在评审")
        nomination = w.candidate(campaign)
        w.to(campaign, Phase.review)
        w.shortlist(campaign, nomination)
        at = REVIEWING
    else:
        campaign, nomination, at = notice.campaign, notice.chosen, notice.campaign.notice_until
        if moment == "after_announcing":
            w.to(campaign, Phase.announced)
            at += timedelta(days=1)
    assert code_of(lambda: honours.lodge_objection(objector, campaign, nomination, reason="不合适",
                                                   real_name="张建国", now=at)) == "phase_closed"


def test_staff_record_how_each_objection_was_handled_and_an_upheld_one_removes_the_nominee(w, notice):
    objection = honours.lodge_objection(w.volunteer, notice.campaign, notice.chosen, reason="服务记录造假",
                                        real_name=w.volunteer.name, now=notice.during)
    assert code_of(lambda: honours.handle_objection(w.staff, objection, upheld=True, note="", now=notice.during)) \
        == "note_required"
    assert code_of(lambda: honours.handle_objection(w.head, objection, upheld=True, note="x", now=notice.during)) \
        == "not_staff"
    honours.handle_objection(w.staff, objection, upheld=True, note="走访核实，记录确有不实", now=notice.during)
    assert objection.status.value == "upheld" and objection.handling_note == "走访核实，记录确有不实"
    assert db.session.get(Nomination, notice.chosen.id).status == NominationStatus.removed
    assert code_of(lambda: honours.handle_objection(w.staff, objection, upheld=False, note="x", now=notice.during)) \
        == "already_handled"
    w.to(notice.campaign, Phase.announced)
    assert honours.honours(notice.campaign) == []


# --- the announcement ------------------------------------------------------------------------------------------

def test_announcing_twice_awards_honours_and_points_once(w, notice):
    person = notice.chosen.nominee
    w.to(notice.campaign, Phase.announced)
    end = notice.campaign.notice_until
    assert code_of(lambda: honours.advance(w.staff, notice.campaign, now=end)) == "already_announced"
    again = honours.award_honours(notice.campaign, w.staff, now=end + timedelta(hours=1))
    db.session.commit()
    (honour,) = honours.honours(notice.campaign)
    assert [h.id for h in again] == [honour.id]
    assert (honour.person_id, honour.points, honour.title) == (person.id, 100, "2026年度社区好人")
    assert honour.number.startswith("RY2026-") and honour.transaction_id is not None
    assert db.session.scalar(select(func.count()).select_from(Transaction)
                             .where(Transaction.kind == TxnKind.honour)) == 1
    assert ledger.balance_of(person) == 100 and ledger.verify() == [] and honours.verify() == []
    assert db.session.get(Nomination, notice.chosen.id).status == NominationStatus.honoured
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "honour.award")) == 1
    assert honours.honours_of(person) == [honour]


def test_award_before_the_announcement_is_refused(w, notice):
    assert code_of(lambda: honours.award_honours(notice.campaign, w.staff)) == "not_announced"


def test_two_announcements_at_once_award_once(app, threaded_app, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign = w.campaign()
        chosen = [w.candidate(campaign) for _ in range(2)]
        w.to(campaign, Phase.review)
        w.shortlist(campaign, *chosen)
        w.to(campaign, Phase.notice)
        campaign_id, end = campaign.id, campaign.notice_until

    def announce(i):
        campaign = db.session.get(Campaign, campaign_id)
        if i % 2:
            return honours.advance_due(now=end).moved and "moved"
        return honours.advance(db.session.get(User, tree.staff_a.id), campaign, now=end).phase.value

    run_concurrently(threaded_app, announce, 10)
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).phase == Phase.announced
        assert db.session.scalar(select(func.count()).select_from(Honour)) == 2
        assert db.session.scalar(select(func.count()).select_from(Transaction)
                                 .where(Transaction.kind == TxnKind.honour)) == 2
        assert ledger.verify() == [] and honours.verify() == []


def test_a_street_campaign_pays_in_each_winners_own_community(w):
    campaign = w.campaign(area=w.street)
    b_person = w.make_user("南湖好人", household=w.tree.b.household, roles=[("resident", w.tree.b.community)],
                           created_at=LONG_AGO)
    nominations = [w.candidate(campaign, w.resident("银融好人")), w.candidate(campaign, b_person, by=w.resident_b)]
    w.to(campaign, Phase.review)
    w.shortlist(campaign, *nominations)
    w.to(campaign, Phase.announced)
    assert {(h.person.name, h.community_id) for h in honours.honours(campaign)} == {
        ("银融好人", w.community.id), ("南湖好人", w.tree.b.community.id)}
    assert [h.person.name for h in honours.honour_roll(db.session.merge(w.tree.b.community))] == ["南湖好人"]
    assert len(honours.honour_roll(w.street)) == 2


def test_no_points_no_transaction(w):
    campaign = w.campaign(points=0)
    nomination = w.candidate(campaign)
    w.to(campaign, Phase.review)
    w.shortlist(campaign, nomination)
    w.to(campaign, Phase.announced)
    (honour,) = honours.honours(campaign)
    assert honour.transaction_id is None and ledger.balance_of(nomination.nominee) == 0 and honours.verify() == []


def test_the_certificate_verifies_by_number_with_a_masked_name_and_is_a_real_pdf(w, notice, app):
    w.to(notice.campaign, Phase.announced)
    (honour,) = honours.honours(notice.campaign)
    facts = honours.verification(honours.by_number(honour.number.lower()))
    assert facts["name"] == honour.person.name[0] + "*" * (len(honour.person.name) - 1)
    assert facts["title"] == "2026年度社区好人" and facts["issuer"] == w.community.name
    assert code_of(lambda: honours.by_number("RY2026-NOPE")) == "not_found"
    assert honours.readable_honour(honour.person, honour.number) == honour
    assert honours.readable_honour(w.staff, honour.number) == honour
    assert code_of(lambda: honours.readable_honour(w.volunteer, honour.number)) == "not_found"
    with app.test_request_context():
        data = honours.honour_pdf(honour, f"http://localhost/honours/{honour.number}")
    assert data.startswith(b"%PDF") and honour.number.encode() in data
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in data  # A4


def test_best_head_honours_carry_the_communitys_tier_title(w, make_area, make_user):
    custom = make_area("community", w.street, name="五里堆社区", settings={"head_titles": ["片长", "组长", "邻长"]})
    grid = make_area("grid", custom, name="一片")
    staff = make_user("五里堆干部", roles=[("staff", custom)])
    head = make_user("片长甲", roles=[("resident", custom)], created_at=LONG_AGO)
    org.appoint_head(staff, grid, head, now=LONG_AGO)
    campaign = honours.open_campaign(staff, custom, schedule(kind="best_head", title="最美三长"), now=OPENED)
    nomination = honours.nominate(staff, campaign, head, reason="尽职尽责", now=NOMINATING)
    honours.answer(head, nomination, consent=True, now=NOMINATING)
    assert honours.tier_name(campaign, nomination.tier) == "片长"


# --- the command line ------------------------------------------------------------------------------------------------

def test_flask_campaigns_advance_is_idempotent_and_says_what_waits(app, runner, tree, make_user, make_area):
    now = datetime.now(UTC)
    with app.app_context():
        w = World(tree, make_user, make_area)
        due = honours.open_campaign(w.staff, w.community, schedule(
            nominate_from=now - timedelta(days=1), nominate_until=now + timedelta(minutes=5),
            vote_from=now + timedelta(minutes=5), vote_until=now + timedelta(days=7)), now=now - timedelta(days=1))
        honours.open_campaign(w.staff, w.community, schedule(
            title="没人提名", nominate_from=now - timedelta(days=1), nominate_until=now + timedelta(minutes=5),
            vote_from=now + timedelta(minutes=5), vote_until=now + timedelta(days=7)), now=now - timedelta(days=1))
        nomination = honours.nominate(w.volunteer, due, w.resident(), reason="好", now=now)
        honours.answer(nomination.nominee, nomination, consent=True, now=now)
        db.session.execute(update(Campaign).values(nominate_until=now - timedelta(minutes=1),
                                                   vote_from=now - timedelta(minutes=1)))
        db.session.commit()
        due_id = due.id
    first = runner.invoke(args=["campaigns", "advance"])
    assert first.exit_code == 0, first.output
    assert "1 phase change(s)" in first.output and "没人提名" in first.output
    second = runner.invoke(args=["campaigns", "advance"])
    assert "0 phase change(s)" in second.output
    with app.app_context():
        assert db.session.get(Campaign, due_id).phase == Phase.voting


def test_flask_campaigns_verify(app, runner, tree, make_user, make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        campaign = w.campaign()
        w.candidate(campaign)
    assert runner.invoke(args=["campaigns", "verify"]).exit_code == 0
    with app.app_context():
        db.session.execute(update(Nomination).values(votes=3))
        db.session.commit()
    failed = runner.invoke(args=["campaigns", "verify"])
    assert failed.exit_code == 1 and "tally 3 but 0 vote row(s)" in failed.output


# --- the API ---------------------------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _api_campaign(client, headers, area_id: int, now: datetime, **extra):
    return client.post("/api/v1/campaigns", headers=headers, json={
        "kind": "good_neighbour", "area_id": area_id, "title": "2026年度社区好人",
        "nominate_from": _iso(now - timedelta(hours=1)), "nominate_until": _iso(now + timedelta(days=7)),
        "vote_from": _iso(now + timedelta(days=7)), "vote_until": _iso(now + timedelta(days=14)), **extra})


def _shift(app, campaign_id: int, **moments) -> None:
    """Time passes: move the campaign's dates to the past."""
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**moments))
        db.session.commit()


def test_api_a_whole_campaign(app, client, tree, make_user):
    now = datetime.now(UTC)
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    nominee = make_user("赵德明", household=tree.a.household, roles=[("resident", tree.a.community)])
    voter = make_user("周淑珍", household=tree.a.household, roles=[("resident", tree.a.community)])
    as_nominee, as_voter = token_for(client, nominee), token_for(client, voter)

    created = _api_campaign(client, staff, tree.a.community.id, now, votes_per_voter=2, points=50)
    assert created.status_code == 201, created.text
    body = created.json
    cid = body["id"]
    assert (body["phase"], body["kind"], body["seats"], body["votes_per_voter"]) == ("nomination", "good_neighbour",
                                                                                      {"0": 10}, 2)
    assert _api_campaign(client, volunteer, tree.a.community.id, now).status_code == 404
    bad = _api_campaign(client, staff, tree.a.community.id, now, vote_from=_iso(now))
    assert bad.status_code == 400 and bad.json["error"]["code"] == "dates_invalid"

    nominated = client.post(f"/api/v1/campaigns/{cid}/nominations", headers=volunteer,
                            json={"nominee_id": nominee.id, "reason": "每天帮邻居取快递"})
    assert nominated.status_code == 201 and nominated.json["status"] == "pending"
    nid = nominated.json["id"]
    again = client.post(f"/api/v1/campaigns/{cid}/nominations", headers=staff,
                        json={"nominee_id": nominee.id, "reason": "重复"})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_nominated"
    outsider = client.post(f"/api/v1/campaigns/{cid}/nominations", headers=volunteer,
                           json={"nominee_id": tree.resident_b.id, "reason": "外社区"})
    assert outsider.status_code == 422 and outsider.json["error"]["code"] == "nominee_not_eligible"
    assert client.get(f"/api/v1/campaigns/{cid}/nominations", headers=as_voter).json["items"] == []
    consent = client.post(f"/api/v1/nominations/{nid}/consent", headers=as_nominee, json={"consent": True})
    assert consent.status_code == 200 and consent.json["status"] == "confirmed"
    listed = client.get(f"/api/v1/campaigns/{cid}/nominations", headers=as_voter).json
    assert [n["nominee"]["name"] for n in listed["items"]] == ["赵德明"] and listed["total"] == 1

    refused = client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "phase_not_finished"
    assert client.post(f"/api/v1/campaigns/{cid}/advance", headers=volunteer).status_code == 403
    _shift(app, cid, nominate_until=now - timedelta(minutes=1))
    opened = client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff)
    assert opened.status_code == 200 and opened.json["phase"] == "voting"

    vote = client.post(f"/api/v1/nominations/{nid}/votes", headers=as_voter)
    assert vote.status_code == 201 and vote.json == {"nomination_id": nid, "votes_left": 1}
    twice = client.post(f"/api/v1/nominations/{nid}/votes", headers=as_voter)
    assert twice.status_code == 409 and twice.json["error"]["code"] == "already_voted"
    own = client.post(f"/api/v1/nominations/{nid}/votes", headers=as_nominee)
    assert own.status_code == 403 and own.json["error"]["code"] == "own_nomination"
    staff_vote = client.post(f"/api/v1/nominations/{nid}/votes", headers=staff)
    assert staff_vote.status_code == 403 and staff_vote.json["error"]["code"] == "not_in_scope"
    assert client.post(f"/api/v1/nominations/{nid}/votes").status_code == 401
    hidden = client.get(f"/api/v1/campaigns/{cid}/results", headers=as_voter).json
    assert hidden["tallies"] == [] and hidden["phase"] == "voting"
    live = client.get(f"/api/v1/campaigns/{cid}/results", headers=staff).json
    assert [(t["nomination_id"], t["votes"], t["counted"]) for t in live["tallies"]] == [(nid, 1, 1)]

    _shift(app, cid, vote_from=now - timedelta(seconds=30), vote_until=now - timedelta(seconds=1), review_until=now)
    assert client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff).json["phase"] == "review"
    no_note = client.post(f"/api/v1/nominations/{nid}/decision", headers=staff, json={"shortlist": True, "note": ""})
    assert no_note.status_code == 400 and no_note.json["error"]["code"] == "note_required"
    decided = client.post(f"/api/v1/nominations/{nid}/decision", headers=staff,
                          json={"shortlist": True, "note": "群众认可度高"})
    assert decided.status_code == 200 and decided.json["status"] == "shortlisted"
    assert client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff).json["phase"] == "notice"

    objection = {"nomination_id": nid, "reason": "我不同意", "real_name": voter.name}
    assert client.post(f"/api/v1/campaigns/{cid}/objections", json=objection).status_code == 401
    unnamed = client.post(f"/api/v1/campaigns/{cid}/objections", headers=as_voter, json={**objection, "real_name": ""})
    assert unnamed.status_code == 422 and unnamed.json["error"]["code"] == "real_name_required"
    lodged = client.post(f"/api/v1/campaigns/{cid}/objections", headers=as_voter, json=objection)
    assert lodged.status_code == 201 and lodged.json["status"] == "open"
    results = client.get(f"/api/v1/campaigns/{cid}/results", headers=as_voter).json
    assert results["notice"]["days"] == 5 and results["notice"]["from"] and results["notice"]["until"]
    assert [s["nomination_id"] for s in results["shortlist"]] == [nid] and results["winners"] == []
    handled = client.post(f"/api/v1/objections/{lodged.json['id']}/handling", headers=staff,
                          json={"upheld": False, "note": "经核实，反映情况不属实"})
    assert handled.status_code == 200 and handled.json["status"] == "dismissed"
    by_token = client.post(f"/api/v1/campaigns/{cid}/objections", headers=volunteer,
                           json={"nomination_id": nid, "reason": "也有意见"})  # the token names the objector
    assert by_token.status_code == 201 and by_token.json["objector"]["name"] == tree.volunteer_a.name
    assert client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff).status_code == 409  # notice still on
    client.post(f"/api/v1/objections/{by_token.json['id']}/handling", headers=staff,
                json={"upheld": False, "note": "已当面沟通"})

    with app.app_context():
        until = db.session.get(Campaign, cid).notice_until
    _shift(app, cid, notice_until=now - timedelta(seconds=1), notice_from=now - timedelta(days=7))
    late = client.post(f"/api/v1/campaigns/{cid}/objections", headers=token_for(client, tree.head_a),
                       json={**objection, "real_name": tree.head_a.name})
    assert late.status_code == 422 and late.json["error"]["code"] == "phase_closed"
    assert until > now
    announced = client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff)
    assert announced.status_code == 200 and announced.json["phase"] == "announced"
    twice = client.post(f"/api/v1/campaigns/{cid}/advance", headers=staff)
    assert twice.status_code == 409 and twice.json["error"]["code"] == "already_announced"
    final = client.get(f"/api/v1/campaigns/{cid}/results", headers=as_voter).json
    (winner,) = final["winners"]
    assert (winner["person_id"], winner["points"]) == (nominee.id, 50)
    check = client.get(f"/api/v1/honours/{winner['number']}")
    assert check.status_code == 200 and check.json["name"] == "赵**" and check.json["valid"] is True
    assert client.get("/api/v1/honours/RY2026-0000000000").status_code == 404
    me = client.get("/api/v1/me", headers=as_nominee).json
    assert me["balance"] == 50


def test_api_flags_and_scope(app, client, tree, make_user):
    now = datetime.now(UTC)
    staff = token_for(client, tree.staff_a)
    cid = _api_campaign(client, staff, tree.a.community.id, now).json["id"]
    for who in (tree.staff_b, tree.resident_b):
        headers = token_for(client, who)
        assert client.get(f"/api/v1/campaigns/{cid}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/campaigns/{cid}/results", headers=headers).status_code == 404
        assert client.post(f"/api/v1/campaigns/{cid}/advance", headers=headers).status_code == 404
    mine = client.get("/api/v1/campaigns", headers=token_for(client, tree.volunteer_a)).json
    assert [c["id"] for c in mine["items"]] == [cid]
    assert client.get("/api/v1/campaigns", headers=token_for(client, tree.resident_b)).json["items"] == []
    assert client.get(f"/api/v1/campaigns/{cid}/flags", headers=staff).json == []
    assert client.get(f"/api/v1/campaigns/{cid}/flags", headers=token_for(client, tree.volunteer_a)).status_code == 403
    unknown = client.post(f"/api/v1/campaigns/{cid}/nominations", headers=staff,
                          json={"nominee_id": 999999, "reason": "无此人"})
    assert unknown.status_code == 404
    malformed = client.post("/api/v1/campaigns", headers=staff, json={"kind": "good_neighbour"})
    assert malformed.status_code == 400 and "area_id" in malformed.json["error"]["fields"]


def test_api_campaigns_are_in_the_openapi_description(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/{campaign_id}/advance",
                 "/api/v1/campaigns/{campaign_id}/nominations", "/api/v1/nominations/{nomination_id}/votes",
                 "/api/v1/campaigns/{campaign_id}/objections", "/api/v1/campaigns/{campaign_id}/results",
                 "/api/v1/honours/{number}"):
        assert path in paths, path


def test_api_ids_of_any_size_are_simply_not_found(client, tree):
    staff = token_for(client, tree.staff_a)
    huge = 10**20
    for method, path, body in (
            ("GET", f"/api/v1/campaigns/{huge}", None), ("GET", f"/api/v1/campaigns/{huge}/results", None),
            ("POST", f"/api/v1/nominations/{huge}/votes", None),
            ("POST", f"/api/v1/flags/{huge}/decision", {"discount": True, "note": "x"}),
            ("POST", f"/api/v1/objections/{huge}/handling", {"upheld": True, "note": "x"}),
            ("POST", "/api/v1/campaigns", {"kind": "custom", "area_id": huge, "title": "x",
                                           "nominate_from": "2026-12-01T00:00:00+08:00",
                                           "nominate_until": "2026-12-08T00:00:00+08:00",
                                           "vote_from": "2026-12-08T00:00:00+08:00",
                                           "vote_until": "2026-12-15T00:00:00+08:00"})):
        response = client.open(path, method=method, json=body, headers=staff)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found", path
