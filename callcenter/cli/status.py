"""`callcenter status` in words: the `/api/status` document as one line per part (pure)."""

from __future__ import annotations

from typing import Any

from callcenter.cli.client import duration


def lines(data: dict[str, Any]) -> list[str]:
    """The status document as the lines `callcenter status` prints."""
    return [*_telephony(data), *_stores(data), *_events(data), *_channels(data), *_changes(data),
            "Queues", *(f"  {q['name']:<12} {q['strategy']:<12} agents {q['agents_available']}/{q['agents_logged_in']} "
                        f"available   waiting {q['waiting']}   longest wait {duration(q['longest_wait_seconds'])}"
                        for q in data["queues"])]


def _telephony(data: dict[str, Any]) -> list[str]:
    ast, ami = data["asterisk"], data["ami"]
    out = [f"Asterisk   {ast['version']}, up {duration(ast['uptime_seconds'])}" if ast.get("reachable")
           else f"Asterisk   not reachable {ast.get('error', '')}".rstrip(),
           f"AMI        {'connected' if ami['connected'] else ami['state']}"
           f"{'' if ami['connected'] or not ami['last_error'] else ' (' + ami['last_error'] + ')'}"]
    resync = data.get("resync", {})
    if resync:
        line = f"Resync     {resync['state']}"
        if resync["state"] in ("running", "retrying", "waiting-for-boot"):
            line += f" (step {resync['step'] or '-'}, {resync['attempts']} retries"
            line += f"; last error: {resync['last_error']})" if resync["last_error"] else ")"
        elif resync.get("last_duration") is not None:
            line += f" in {resync['last_duration']:.2f} s ({resync['resyncs']} since start): {resync['last']}"
        out.append(line)
    out.append(f"Calls      {data['calls']['active']} active")
    return out


def _problem(part: dict[str, Any], key: str = "problem") -> str:
    return f"; PROBLEM: {part[key]}" if part.get(key) else ""


def _stores(data: dict[str, Any]) -> list[str]:
    out = []
    store = data.get("store")
    if store:
        out.append(f"Store      {store['url']}, {store['writes']} writes{_problem(store)}")
        if "backlog" in store:  # the call log (tickets/calls.py): what waits to be written
            dropped = f", {store['backlog_dropped']} not held (written from the CDR)" if store["backlog_dropped"] else ""
            out.append(f"  call log: {store['backlog']} events waiting (peak {store['backlog_peak']}), "
                       f"{store['events_written']} written in {store['batches']} batches{dropped}")
        if "known_phones" in store:  # the IVR's caller lookup (tickets/known_phones.py)
            lookups = store["caller_lookups"]
            out.append(f"  caller lookups: {store['known_phones']} numbers known; {lookups['answered_at_once']} "
                       f"answered at once (not in the store), {lookups['looked_up']} looked up")
    inbox = data.get("inbox")
    if inbox:  # the inbox's offers (callcenter/inbox/)
        out.append(f"Inbox      {inbox['offers']} offers out; {inbox['offers_made']} made, {inbox['offers_expired']} "
                   "expired since start")
    speech = data.get("transcription")
    if speech:
        jobs = speech["jobs"]
        out.append(f"Voicemail  {speech['engine']}: {jobs.get('queued', 0)} queued, {jobs.get('running', 0)} running, "
                   f"{jobs.get('done', 0)} transcribed, {jobs.get('empty', 0)} empty, {jobs.get('failed', 0)} failed"
                   f"{_problem(speech)}")
    return out


def _events(data: dict[str, Any]) -> list[str]:
    ctl = data.get("controller", {})
    out = [f"Events     {ctl.get('events_seen', 0)} from Asterisk, {ctl.get('events_published', 0)} published; "
           f"subscriber errors {ctl.get('subscriber_errors', 0)}, call task failures {ctl.get('call_task_failures', 0)}"]
    out += [f"  {name}: {sub['errors']} errors, {sub['dropped']} dropped; last: {sub['last_error']}"
            for name, sub in data.get("subscribers", {}).items() if sub["errors"] or sub["dropped"]]
    security = data.get("security", {})
    if security.get("banned") or security.get("failures"):
        banned = ", ".join(f"{a} ({s:.0f} s left)" for a, s in security["banned"].items()) or "none"
        worst = ", ".join(f"{a}: {n}" for a, n in list(security["failures"].items())[:5])
        out.append(f"SIP guard  banned: {banned}; failed authentications: {worst}")
    return out


def _channels(data: dict[str, Any]) -> list[str]:
    email = data.get("email")
    if not email:
        return []
    imap = email.get("imap")
    return [f"Email      SMTP {email['smtp']}: {email['received']} received, {email['quarantined']} quarantined"
            + _problem(email)
            + (f"; IMAP {imap['mailbox']}: {imap['fetched']} fetched" + (f", PROBLEM: {imap['problem']}"
                                                                         if imap["problem"] else "") if imap else "")]


def _changes(data: dict[str, Any]) -> list[str]:
    out = []
    if data.get("config", {}).get("error"):
        out.append(f"Config     last reload refused: {data['config']['error_id']}: {data['config']['error']}")
    if data.get("flows"):
        f = data["flows"]
        out.append(f"Flows      version {f['version']}: {', '.join(f['names'])}"
                   + (f"  (last reload refused: {len(f['errors'])} error(s); see `callcenter flow list`)"
                      if f["errors"] else ""))
    return out
