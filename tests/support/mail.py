"""Mail for the email tests: messages made with the email package, and a customer's file by address."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from callcenter.tickets import Store


def message(subject: str, body: str, *, sender: str = "Ann Lee <ann@example.com>", msgid: str = "",
            in_reply_to: str = "", references: str = "", **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "support@callcenter.test", subject
    if msgid:
        m["Message-ID"] = msgid
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    if references:
        m["References"] = references
    for key, value in headers.items():
        m[key.replace("_", "-")] = value
    m.set_content(body)
    return m


async def file_of(store: Store, address: str) -> dict[str, Any]:
    customer = await store.find_customer(address)
    assert customer is not None, address
    return await store.customer_file(customer["id"])
