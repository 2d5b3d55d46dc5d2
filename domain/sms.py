"""Sending text messages (短信): one small interface, a registry of senders, each built from settings.

- `log`: writes the message to the log and keeps the latest ones for the development outbox page (/dev/sms).
  The default, for `make run` and the tests; never reaches a phone.
- `aliyun`: Aliyun SMS (阿里云短信服务) through its official SDK (extra `sms-aliyun`).
- `tencent`: Tencent Cloud SMS (腾讯云短信) through its official SDK (extra `sms-tencent`).

The SDKs are imported only when their sender is built, so an installation pulls in only the one it uses. A
provider's refusal or a network failure becomes `SendFailed` (logged with the provider's own code), never an
exception the person would see as a crash.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from flask_babel import lazy_gettext as _l

from domain.errors import DomainError
from models import mask_phone, utcnow

log = logging.getLogger(__name__)


class SendFailed(DomainError):
    """The provider did not take the message (refused it, or could not be reached)."""

    status = 503


def _failed() -> SendFailed:
    return SendFailed("sms_failed", _l("The text message could not be sent. Please try again later."))


@dataclass(frozen=True)
class CodeMessage:
    """A one-time code to text to a mainland phone number (11 digits)."""

    phone: str
    code: str
    minutes: int
    at: datetime = field(default_factory=utcnow)


class Sender(Protocol):
    def send(self, message: CodeMessage) -> None:
        """Hand the message to the provider. Raises SendFailed."""


class LogSender:
    """Development and tests: the message goes to the log and to a short outbox the dev page lists."""

    def __init__(self, settings: Mapping, keep: int = 50):
        self.outbox: deque[CodeMessage] = deque(maxlen=keep)

    def send(self, message: CodeMessage) -> None:
        log.info("SMS to %s: code %s (valid %s minutes)", message.phone, message.code, message.minutes)
        self.outbox.appendleft(message)


def _setting(settings: Mapping, name: str) -> str:
    value = settings.get(name)
    if not value:
        raise RuntimeError(f"SMS_BACKEND={settings.get('SMS_BACKEND')} needs {name}")
    return str(value)


class AliyunSender:
    """Aliyun SMS, API 2017-05-25 SendSms; the template has one variable, ${code}."""

    def __init__(self, settings: Mapping):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        self.sign_name = _setting(settings, "SMS_SIGN_NAME")
        self.template = _setting(settings, "SMS_TEMPLATE_CODE")
        self.client = Client(Config(access_key_id=_setting(settings, "SMS_ACCESS_KEY_ID"),
                                    access_key_secret=_setting(settings, "SMS_ACCESS_KEY_SECRET"),
                                    endpoint=settings.get("SMS_ENDPOINT") or "dysmsapi.aliyuncs.com"))

    def send(self, message: CodeMessage) -> None:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from darabonba.runtime import RuntimeOptions

        request = SendSmsRequest(phone_numbers=message.phone, sign_name=self.sign_name, template_code=self.template,
                                 template_param=json.dumps({"code": message.code}))
        body = _calling("aliyun", message, lambda: self.client.send_sms_with_options(request, RuntimeOptions()).body)
        if body.code != "OK":
            _refused("aliyun", message, body.code, body.message)


class TencentSender:
    """Tencent Cloud SMS, API 2021-01-11 SendSms; the template has two variables, {1} the code, {2} the minutes."""

    def __init__(self, settings: Mapping):
        from tencentcloud.common.credential import Credential
        from tencentcloud.sms.v20210111.sms_client import SmsClient

        self.sign_name = _setting(settings, "SMS_SIGN_NAME")
        self.template = _setting(settings, "SMS_TEMPLATE_CODE")
        self.app_id = _setting(settings, "SMS_APP_ID")
        self.client = SmsClient(Credential(_setting(settings, "SMS_ACCESS_KEY_ID"),
                                           _setting(settings, "SMS_ACCESS_KEY_SECRET")),
                                settings.get("SMS_REGION") or "ap-guangzhou")

    def send(self, message: CodeMessage) -> None:
        from tencentcloud.sms.v20210111.models import SendSmsRequest

        request = SendSmsRequest()
        request.PhoneNumberSet = [f"+86{message.phone}"]
        request.SmsSdkAppId, request.SignName, request.TemplateId = self.app_id, self.sign_name, self.template
        request.TemplateParamSet = [message.code, str(message.minutes)]
        answer = _calling("tencent", message, lambda: self.client.SendSms(request))
        status = (answer.SendStatusSet or [None])[0]
        if status is None or status.Code != "Ok":
            _refused("tencent", message, getattr(status, "Code", "no status"), getattr(status, "Message", ""))


def _calling(provider: str, message: CodeMessage, call: Callable):
    """The provider's answer, or SendFailed (logged) when the call itself failed: network, credentials, SDK."""
    try:
        return call()
    except Exception as error:  # an SDK raises its own families, and the network anything
        log.error("SMS to %s through %s failed: %s", mask_phone(message.phone), provider, error)
        raise _failed() from error


def _refused(provider: str, message: CodeMessage, code: str, text: str) -> None:
    log.error("SMS to %s refused by %s: %s %s", mask_phone(message.phone), provider, code, text)
    raise _failed()


#: The senders by the name SMS_BACKEND gives.
BACKENDS: dict[str, Callable[[Mapping], Sender]] = {"log": LogSender, "aliyun": AliyunSender,
                                                     "tencent": TencentSender}


def build_sender(settings: Mapping) -> Sender:
    """The sender SMS_BACKEND names, built from the SMS_* settings (create_app calls it once)."""
    name = settings.get("SMS_BACKEND") or "log"
    if name not in BACKENDS:
        raise RuntimeError(f"SMS_BACKEND={name}: not one of {', '.join(BACKENDS)}")
    return BACKENDS[name](settings)
