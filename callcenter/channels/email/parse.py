"""Inbound email, read with the standard library's email package (pure: bytes in, a ParsedMail or a
Quarantine reason out).

- Headers per RFC 5322 with RFC 2047 encoded words (any charset Python knows: UTF-8, GB2312/GBK/
  GB18030, Big5, ISO-8859-x, ...). A part declared GB2312 or GBK is decoded as GB18030 (their
  superset: mail in the wild declares GB2312 and uses GBK characters).
- Threading keys: Message-ID, In-Reply-To, References (every id in it, RFC 5322 §3.6.4), and a
  ticket reference `[#123]` in the subject.
- The text: the text/plain part of a multipart/alternative (else the HTML's text, tags dropped);
  the quoted part of a reply (lines starting with `>`, and what follows Gmail's "On ... wrote:" or
  Outlook's "-----Original Message-----" / "From: ... Sent:") is folded apart from the new text.
- Automatic mail (RFC 3834 Auto-Submitted other than `no`, Precedence bulk/junk/list, List-Id, a
  mailer-daemon or postmaster sender, a delivery report) is marked so that nobody auto-answers it.
- Quarantine (never dropped): unparseable addresses, MIME defects that lose content, undecodable
  text parts; the reason says which.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

import nh3

from callcenter.core.text import clean_text

TICKET_REF = re.compile(r"\[#(\d{1,9})\]")
MSGID = re.compile(r"<[^<>\s]{1,250}>")
GB_CHARSETS = {"gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936", "euc-cn"}
QUOTE_HEADS = (re.compile(r"^On .{3,200} wrote:\s*$", re.M), re.compile(r"^-{2,}\s*Original Message\s*-{2,}", re.M | re.I),
               re.compile(r"^From: .+\n(?:Sent|Date): .+", re.M), re.compile(r"^在.{2,100}写道[:：]\s*$", re.M))
MAX_NAME = 100


class Quarantine(Exception):
    """A message we keep aside with the reason, for an admin to look at."""


@dataclass
class Attachment:
    filename: str  # safe: no folders, no control characters, at most 100 characters
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    sender: str  # the address, lower-cased
    sender_name: str
    text: str  # the new text of the message
    quoted: str  # the quoted part of a reply, folded apart
    html: bool  # the text came from an HTML part
    automatic: str  # why this is automatic mail ("" for a person's)
    attachments: list[Attachment] = field(default_factory=list)
    html_view: str = ""  # the HTML part, sanitized (safe_html), for a view apart from the text

    def thread_ids(self) -> list[str]:
        """Ids that may name the message this one answers: In-Reply-To first, then References
        from the newest."""
        return [i for i in [self.in_reply_to, *reversed(self.references)] if i]

    def ticket_ref(self) -> int | None:
        found = TICKET_REF.search(self.subject)
        return int(found.group(1)) if found else None


def parse(raw: bytes) -> ParsedMail:
    """The parts of a received message. Errors: Quarantine (with the reason): a message this code
    cannot read is quarantined, never refused for retry (a retry would read it no better)."""
    try:
        return _parse(raw)
    except Quarantine:
        raise
    except Exception as exc:  # noqa: BLE001 - the email package's errors vary with the input
        raise Quarantine(f"unreadable message: {type(exc).__name__}: {str(exc)[:200]}") from None


def _parse(raw: bytes) -> ParsedMail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    name, sender = _sender(msg)
    if not re.fullmatch(r"[^@\s<>]{1,64}@[^@\s<>]{1,255}", sender or ""):
        raise Quarantine(f"no usable sender address in From: {_raw(msg, 'From')[:100]!r}")
    subject = clean_text(_header(msg, "Subject"))
    text, is_html = _body(msg)
    new, quoted = fold(clean_text(text))
    return ParsedMail(message_id=_msgid(msg.get("Message-ID")), in_reply_to=_msgid(msg.get("In-Reply-To")),
                      references=MSGID.findall(str(msg.get("References", "")))[-50:], subject=subject[:300],
                      sender=sender.lower(), sender_name=clean_text(name)[:200], text=new, quoted=quoted, html=is_html,
                      automatic=automatic(msg, sender.lower()), attachments=_attachments(msg),
                      html_view=_html_view(msg))


def _sender(msg: EmailMessage) -> tuple[str, str]:
    """From's (display name, address). The email package refuses an address header whose display
    name has an encoded CR or LF (ValueError on reading it): then the address comes from the raw
    header and the name's encoded words are decoded apart, so the mail still lands (the CR/LF
    become spaces). Decoding apart keeps an encoded "<someone@else>" in a name from being read
    as the address."""
    try:
        addresses = getaddresses([str(msg.get("From", ""))])
    except Exception:  # noqa: BLE001 - a header that the address parser refuses
        raw = _raw(msg, "From").strip()
        angle = re.fullmatch(r"(.*)<([^<>\s]+)>", raw, re.S)  # name <address>: the usual form
        addresses = [(_decoded(angle[1]).strip(' "'), angle[2])] if angle else getaddresses([raw])
    name, sender = addresses[0] if addresses else ("", "")
    return " ".join(name.split()), sender


def _raw(msg: EmailMessage, name: str) -> str:
    """A header as it came, unparsed ("" if absent)."""
    return next((str(v) for k, v in msg.raw_items() if k.lower() == name.lower()), "")


def _decoded(words: str) -> str:
    try:
        return str(make_header(decode_header(words)))
    except Exception:  # noqa: BLE001 - an unknown charset: the words as they came
        return words


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = str(msg.get(name, "") or "")
    except Exception as exc:  # noqa: BLE001 - an encoded word in an unknown charset
        raise Quarantine(f"undecodable {name} header: {exc}") from None
    return " ".join(value.split())


def _msgid(value: Any) -> str:
    found = MSGID.search(str(value or ""))
    return found.group(0) if found else ""


def _decode(part: EmailMessage) -> str:
    charset = (part.get_content_charset() or "utf-8").lower()
    payload = part.get_payload(decode=True) or b""
    assert isinstance(payload, bytes)
    if charset in GB_CHARSETS:
        charset = "gb18030"
    try:
        return payload.decode(charset)
    except LookupError:
        raise Quarantine(f"a {part.get_content_type()} part in an unknown charset {charset!r}") from None
    except UnicodeDecodeError:
        raise Quarantine(f"a {part.get_content_type()} part that is not valid {charset}") from None


def _body(msg: EmailMessage) -> tuple[str, bool]:
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        return _decode(plain).strip(), False  # type: ignore[arg-type]
    rich = msg.get_body(preferencelist=("html",))
    if rich is not None:
        return html_text(_decode(rich)), True  # type: ignore[arg-type]
    if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
        raise Quarantine("a multipart message without its parts (broken MIME)")
    return "", False


def _html_view(msg: EmailMessage) -> str:
    rich = msg.get_body(preferencelist=("html",))
    if rich is None:
        return ""
    try:
        return safe_html(_decode(rich))  # type: ignore[arg-type]
    except Quarantine:
        return ""  # the text part was readable: the message is kept without the view


MAX_HTML = 1 << 20  # characters of an HTML part sanitized for its view; the rest is cut


def safe_html(source: str) -> str:
    """An HTML part made safe to show (ammonia, through nh3): no script, style element, event
    handler, form, iframe or object; links only http(s) and mailto, opened without referrer;
    images only inline `data:` or `cid:` (no remote image can tell the sender the mail was read).
    Served with a sandboxing Content-Security-Policy as well (routes.py)."""
    return nh3.clean(source[:MAX_HTML], url_schemes={"http", "https", "mailto", "data", "cid"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True,
                     attribute_filter=_no_remote_images)


def _no_remote_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith(("data:image/", "cid:")):
        return None
    return value


def html_text(source: str) -> str:
    """The text of an HTML part: scripts and styles dropped, tags removed, entities decoded. Shown
    as text, never as HTML."""
    source = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", source)
    source = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</li\s*>", "\n", source)
    text = html.unescape(re.sub(r"<[^>]*>", " ", source))
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


def fold(text: str) -> tuple[str, str]:
    """(the new text, the quoted part) of a reply."""
    cut = len(text)
    for head in QUOTE_HEADS:
        found = head.search(text)
        if found:
            cut = min(cut, found.start())
    lines = text[:cut].splitlines()
    first_quote = next((i for i, line in enumerate(lines) if line.startswith(">")), None)
    if first_quote is not None:
        cut = len("\n".join(lines[:first_quote]))
    return text[:cut].strip(), text[cut:].strip()


def automatic(msg: EmailMessage, sender: str) -> str:
    """Why a message is automatic (no auto-answer to it), or ""."""
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted[:40]}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "a mailing list"
    local = sender.partition("@")[0]
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"):
        return f"sent by {local}"
    if msg.get_content_type() == "multipart/report":
        return "a delivery report"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return "an auto-reply"
    return ""


def reply(*, from_address: str, to: str, subject: str, text: str, ticket_id: int, in_reply_to: str = "",
          references: list[str] | None = None, automatic: bool = False) -> EmailMessage:
    """Our answer on a ticket (RFC 5322): a new Message-ID in our domain, In-Reply-To the message
    answered, References its chain plus it (§3.6.4), the ticket in the subject (`[#123]`) so a reply
    to it finds the ticket even without the ids; an automatic one says so (RFC 3834)."""
    msg = EmailMessage()
    msg["From"], msg["To"] = from_address, to
    base = TICKET_REF.sub("", subject).strip() or f"Ticket {ticket_id}"
    if not re.match(r"(?i)re:", base):
        base = f"Re: {base}"
    msg["Subject"] = f"{base} [#{ticket_id}]"
    msg["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or "callcenter.localhost")
    msg["Date"] = formatdate(localtime=True)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join([*(references or [])[-20:], in_reply_to])
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text)
    return msg


def safe_name(name: str, index: int) -> str:
    """An attachment's file name we can store: the last path part, no control characters or
    leading dots, at most 100 characters; `attachment-N` when nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*').strip().lstrip(".")
    return base[:MAX_NAME] or f"attachment-{index}"


def _attachments(msg: EmailMessage) -> list[Attachment]:
    out = []
    for i, part in enumerate(msg.iter_attachments(), 1):
        assert isinstance(part, EmailMessage)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue  # an attached message (message/rfc822): kept in the raw mail only
        out.append(Attachment(safe_name(part.get_filename() or "", i), part.get_content_type()[:100], data))
    return out
