"""Password rules: length only, no composition rules, common and guessable passwords refused, no truncation."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from domain import accounts
from domain.errors import Refused


def refusal(password: str, phone: str | None = None) -> str | None:
    try:
        accounts.check_password_rules(password, phone)
    except Refused as refused:
        return refused.code
    return None


@pytest.mark.parametrize("password", ["1234567", "abc", "", "短密码"])
def test_shorter_than_8_is_refused(password):
    assert refusal(password) == "password_too_short"


@pytest.mark.parametrize("password", ["12345678", "PASSWORD", "Password1", "qq123456", "woaini1314", "1qaz2wsx",
                                      "88888888", "aaaaaaaaaaaa", "zzzzzzzz", "23456789", "98765432",
                                      "34567890"])
def test_common_and_guessable_passwords_are_refused(password):
    assert refusal(password) == "password_too_common"


def test_ones_own_phone_number_is_refused():
    assert refusal("13812345678", "13812345678") == "password_too_common"
    assert refusal("x13812345678!", "13812345678") == "password_too_common"
    assert refusal("13812345678", "13900000000") is None


@pytest.mark.parametrize("password", ["correct horse 42", "lowercaseonly", "12345679", "明天去社区打扫楼道",
                                      "ab" * 4, "a" * 7 + "b", "楼道清洁日2026"])
def test_any_long_enough_password_without_composition_rules_is_accepted(password):
    assert refusal(password) is None


def test_the_shipped_list_has_no_short_or_duplicate_entries():
    common = accounts._common_passwords()
    assert len(common) > 150
    assert all(len(p) >= accounts.MIN_PASSWORD for p in common)


def test_a_long_password_is_not_truncated(dbs):
    long = "我们的社区" * 30 + "x"
    hashed = accounts.hash_password(long)
    assert PasswordHasher().verify(hashed, long)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(hashed, long[:-1] + "y")
