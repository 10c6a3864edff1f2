"""Settings of the agents' workspace and the wallboard (`web:`, docs/web.md)."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.core.config import Locator


@dataclass(frozen=True)
class WebSettings:
    """The agent workspace and the wallboard."""

    pause_reasons: tuple[str, ...] = ("break", "lunch", "training", "meeting", "after-call work")
    wrapup_codes: tuple[str, ...] = ("resolved", "follow-up needed", "escalated", "information given", "wrong number")
    session_idle_minutes: int = 480  # a browser session idle this long must log in again
    service_level_target: float = 0.8  # the share of calls answered within routing.service_level_seconds
    service_level_abandoned: str = "exclude"  # exclude | count: abandoned calls count as missed in the service level


def check(web: WebSettings, loc: Locator) -> None:
    for key in ("pause_reasons", "wrapup_codes"):
        values = getattr(web, key)
        if not values:
            raise loc.error(("web", key), f"{key} must list at least one", "bad-value")
        for i, value in enumerate(values):
            # A pause reason goes to app_queue (char[80], docs/asterisk.md#pause-reason): 79 bytes at most.
            if not value.strip() or len(value.encode()) > 79:
                raise loc.error(("web", key, str(i)), f"{value[:40]!r} must be 1 to 79 bytes", "bad-value")
        if len(set(values)) != len(values):
            raise loc.error(("web", key), f"{key} lists a value twice", "bad-value")
    if not 1 <= web.session_idle_minutes <= 60 * 24 * 30:
        raise loc.error(("web", "session_idle_minutes"), "session_idle_minutes must be 1 to 43200", "bad-value")
    if not 0 < web.service_level_target <= 1:
        raise loc.error(("web", "service_level_target"), "service_level_target must be more than 0, at most 1 "
                        "(0.8 = 80 %)", "bad-value")
    if web.service_level_abandoned not in ("exclude", "count"):
        raise loc.error(("web", "service_level_abandoned"), "service_level_abandoned must be exclude or count",
                        "bad-value")
