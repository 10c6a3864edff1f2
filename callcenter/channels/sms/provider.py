"""SMS providers: where a reply goes out. `dev` (the default for `make run`) sends nothing: the
message is kept on the ticket, marked `sent (dev)`, so the whole path works offline; `twilio` posts
to Twilio's Messages API (form fields To, From, Body, StatusCallback; HTTP Basic with the account
SID and auth token; https://www.twilio.com/docs/messaging/api/message-resource). Errors:
SmsError `sms-send-failed`."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

from callcenter.channels.sms.settings import SmsSettings
from callcenter.core.errors import Upstream


class SmsError(Upstream):
    pass


class SmsProvider(Protocol):
    name: str

    async def send(self, to: str, body: str, status_callback: str) -> tuple[str, str]:
        """(the provider's message id, its status)."""
        ...


class DevSms:
    name = "dev"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, to: str, body: str, status_callback: str) -> tuple[str, str]:
        self.sent.append((to, body))
        return f"dev-{secrets.token_hex(8)}", "sent (dev)"


class TwilioSms:
    name = "twilio"

    def __init__(self, api_url: str, account_sid: str, auth_token: str, from_number: str, timeout: float = 15.0) -> None:
        self.api_url, self.account_sid, self.auth_token = api_url.rstrip("/"), account_sid, auth_token
        self.from_number, self.timeout = from_number, timeout

    async def send(self, to: str, body: str, status_callback: str) -> tuple[str, str]:
        return await asyncio.to_thread(self._send, to, body, status_callback)

    def _send(self, to: str, body: str, status_callback: str) -> tuple[str, str]:
        url = f"{self.api_url}/2010-04-01/Accounts/{urllib.parse.quote(self.account_sid, safe='')}/Messages.json"
        form = {"To": to, "From": self.from_number, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        auth = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST",
                                         headers={"Authorization": f"Basic {auth}",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace")
            raise SmsError("sms-send-failed", f"Twilio answered {exc.code}: {detail[:300]}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SmsError("sms-send-failed", f"cannot reach Twilio at {self.api_url}: "
                           f"{getattr(exc, 'reason', None) or exc}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("sid"), str):
            raise SmsError("sms-send-failed", "Twilio's answer has no message sid")
        return answer["sid"], str(answer.get("status") or "queued")


def provider_for(settings: SmsSettings, auth_token: str) -> SmsProvider:
    """`sms.provider`: dev (replies kept on the ticket, nothing sent) or twilio (with `auth_token`)."""
    if settings.provider == "twilio":
        return TwilioSms(settings.twilio_api_url, settings.twilio_account_sid, auth_token, settings.from_number)
    return DevSms()
