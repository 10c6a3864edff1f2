"""Settings of the web server (`api:`): where the REST API and the pages listen."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.core.config import Locator


@dataclass(frozen=True)
class ApiSettings:
    """The controller's REST API and its web pages."""

    bind: str = "127.0.0.1"
    port: int = 8080


def check(api: ApiSettings, loc: Locator) -> None:
    loc.check_port(("api", "port"), api.port)
    loc.check_ip(("api", "bind"), api.bind)
