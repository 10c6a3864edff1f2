"""Mail for the email tests: messages made with the email package, and a customer's file by address."""

from __future__ import annotations

from email.message import EmailMessage

from callcenter.tickets.core import TicketCore
from callcenter.tickets.rows import CustomerFile


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


async def file_of(store: TicketCore, address: str) -> CustomerFile:
    customer = await store.customers.find(address)
    assert customer is not None, address
    return await store.customers.file(customer["id"])
