"""The SMS senders of production, built with the providers' official SDKs: only the SDK client's network call is
replaced (by a recorder), so what is checked is the request the SDK itself builds from ours, and what a refusal or
a failed call becomes (SendFailed, logged with the provider's code; a page says 短信发送失败，请稍后再试, no 500)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os

import pytest
from sqlalchemy import select

from domain.sms import AliyunSender, CodeMessage, LogSender, SendFailed, TencentSender, build_sender
from models import SignInCode, db
from tests.conftest import make_app


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _need(module: str, extra: str) -> None:
    if not _installed(module):
        message = f"{module} not installed (pip install -e '.[{extra}]', or '.[test]')"
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail(f"{message}, but TEST_REQUIRE_ALL=1 requires every test to run")
        pytest.skip(message)


@pytest.fixture
def aliyun_sdk():
    _need("alibabacloud_dysmsapi20170525", "sms-aliyun")


@pytest.fixture
def tencent_sdk():
    _need("tencentcloud.sms.v20210111", "sms-tencent")


ALIYUN = {"SMS_BACKEND": "aliyun", "SMS_SIGN_NAME": "银融社区", "SMS_TEMPLATE_CODE": "SMS_123456789",
          "SMS_ACCESS_KEY_ID": "test-key-id", "SMS_ACCESS_KEY_SECRET": "test-key-secret"}
TENCENT = {"SMS_BACKEND": "tencent", "SMS_SIGN_NAME": "银融社区", "SMS_TEMPLATE_CODE": "1234567",
           "SMS_APP_ID": "1400000001", "SMS_ACCESS_KEY_ID": "test-secret-id",
           "SMS_ACCESS_KEY_SECRET": "test-secret-key"}
MESSAGE = CodeMessage(phone="13800138000", code="042517", minutes=5)


def aliyun_answer(code: str = "OK", message: str = "OK"):
    """A recorder standing in for the Aliyun client's `call_api` (the one place its requests go out)."""
    sent = []

    def call_api(params, request, runtime):
        sent.append({"action": params.action, "version": params.version, **request.query})
        return {"statusCode": 200, "headers": {}, "body": {"Code": code, "Message": message, "RequestId": "r-1"}}
    return sent, call_api


def tencent_answer(code: str = "Ok", message: str = "send success"):
    """A recorder standing in for the Tencent client's `call` (the one place its requests go out)."""
    sent = []

    def call(action, params, headers=None, **_kw):
        sent.append({"action": action, **params})
        return json.dumps({"Response": {"RequestId": "r-1", "SendStatusSet": [
            {"Code": code, "Message": message, "PhoneNumber": f"+86{MESSAGE.phone}", "SerialNo": "s-1", "Fee": 1}]}})
    return sent, call


def test_the_aliyun_sender_asks_for_the_template_with_the_code(aliyun_sdk):
    sender = build_sender(ALIYUN)
    assert isinstance(sender, AliyunSender)
    sent, sender.client.call_api = aliyun_answer()
    sender.send(MESSAGE)
    assert sent == [{"action": "SendSms", "version": "2017-05-25", "PhoneNumbers": "13800138000",
                     "SignName": "银融社区", "TemplateCode": "SMS_123456789", "TemplateParam": '{"code": "042517"}'}]


def test_an_aliyun_refusal_is_a_logged_failure(aliyun_sdk, caplog):
    sender = build_sender(ALIYUN)
    _sent, sender.client.call_api = aliyun_answer("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控")
    with caplog.at_level(logging.ERROR, logger="domain.sms"), pytest.raises(SendFailed) as failed:
        sender.send(MESSAGE)
    assert failed.value.code == "sms_failed" and failed.value.status == 503
    assert "isv.BUSINESS_LIMIT_CONTROL" in caplog.text and "138****8000" in caplog.text
    assert MESSAGE.code not in caplog.text and MESSAGE.phone not in caplog.text


def test_an_aliyun_call_that_fails_is_a_logged_failure(aliyun_sdk, caplog):
    sender = build_sender(ALIYUN)

    def unreachable(params, request, runtime):
        raise ConnectionError("dysmsapi.aliyuncs.com unreachable")
    sender.client.call_api = unreachable
    with caplog.at_level(logging.ERROR, logger="domain.sms"), pytest.raises(SendFailed):
        sender.send(MESSAGE)
    assert "unreachable" in caplog.text and "aliyun" in caplog.text


def test_the_tencent_sender_asks_for_the_template_with_the_code_and_minutes(tencent_sdk):
    sender = build_sender(TENCENT)
    assert isinstance(sender, TencentSender)
    sent, sender.client.call = tencent_answer()
    sender.send(MESSAGE)
    assert sent == [{"action": "SendSms", "PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000001",
                     "SignName": "银融社区", "TemplateId": "1234567", "TemplateParamSet": ["042517", "5"]}]


def test_a_tencent_refusal_is_a_logged_failure(tencent_sdk, caplog):
    sender = build_sender(TENCENT)
    _sent, sender.client.call = tencent_answer("LimitExceeded.PhoneNumberDailyLimit", "daily limit")
    with caplog.at_level(logging.ERROR, logger="domain.sms"), pytest.raises(SendFailed):
        sender.send(MESSAGE)
    assert "LimitExceeded.PhoneNumberDailyLimit" in caplog.text and MESSAGE.code not in caplog.text


def test_a_tencent_sdk_error_is_a_logged_failure(tencent_sdk, caplog):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    sender = build_sender(TENCENT)

    def refused(action, params, headers=None, **_kw):
        raise TencentCloudSDKException("AuthFailure.SecretIdNotFound", "The SecretId is not found")
    sender.client.call = refused
    with caplog.at_level(logging.ERROR, logger="domain.sms"), pytest.raises(SendFailed):
        sender.send(MESSAGE)
    assert "AuthFailure.SecretIdNotFound" in caplog.text


def test_a_sender_without_its_settings_or_an_unknown_one_is_refused_at_start(aliyun_sdk):
    with pytest.raises(RuntimeError, match="SMS_SIGN_NAME"):
        build_sender({**ALIYUN, "SMS_SIGN_NAME": ""})
    with pytest.raises(RuntimeError, match="not one of"):
        build_sender({"SMS_BACKEND": "carrier-pigeon"})
    assert isinstance(build_sender({}), LogSender)


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_a_provider_failure_on_the_page_is_a_message_not_a_crash(app, tree, provider, request):
    request.getfixturevalue(f"{provider}_sdk")
    settings, (_sent, answer) = ((ALIYUN, aliyun_answer("isv.AMOUNT_NOT_ENOUGH", "余额不足")) if provider == "aliyun"
                                 else (TENCENT, tencent_answer("FailedOperation.InsufficientBalanceInSmsPackage", "")))
    served = make_app(app.config["SQLALCHEMY_DATABASE_URI"], **settings)
    client = served.extensions["sms"].client
    setattr(client, "call_api" if provider == "aliyun" else "call", answer)
    try:
        page = served.test_client().post("/login/code/send", data={"phone": tree.volunteer_a.phone,
                                                                   "purpose": "sign_in"})
        assert page.status_code == 503 and "短信发送失败，请稍后再试" in page.text
        with served.app_context():
            assert db.session.scalars(select(SignInCode)).all() == []  # the code it would have carried is dropped
        assert served.test_client().get("/dev/sms").status_code == 200  # tests keep the outbox page ...
        assert "不保留发件箱" in served.test_client().get("/dev/sms").text  # ... which says a provider keeps none
    finally:
        with served.app_context():
            db.engine.dispose()
