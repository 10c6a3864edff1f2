"""What `callcenter run` prints once everything is up: where each part listens, the demo
hotline, the agents' SIP credentials, the logs."""

from __future__ import annotations

from callcenter.asterisk.install import AsteriskInstall
from callcenter.asterisk.process import AsteriskProcess
from callcenter.asterisk.render import InstanceDirs
from callcenter.config import Config
from callcenter.core.credentials import Credentials


def running(config: Config, creds: Credentials, install: AsteriskInstall, asterisk: AsteriskProcess,
           dirs: InstanceDirs, ready_in: float, adopted: bool) -> str:
    sip = f"{config.sip.bind}:{config.sip.port}"
    lines = [
        f"callcenter is running ({install.version.split('+')[0]}, pid {asterisk.pid}"
        f"{', adopted' if adopted else ''}; ready in {ready_in:.1f} s)",
        f"  SIP (UDP)  {sip}    RTP {config.sip.rtp_ports}",
    ]
    for number, did in config.dids.items():
        route = f"flow {did.flow}" if did.flow else f"greeting, then queue {did.queue}"
        lines.append(f"  hotline    sip:{number}@{sip}  ({did.name or number}: {route})")
    lines += [
        f"  AMI        {config.ami.bind}:{config.ami.port}  (user {config.ami.username}, controller only)",
        f"  REST API   http://{config.api.bind}:{config.api.port}/api/status  "
        f"(token: {Credentials.path(config.runtime_dir)})",
        f"  web        http://{config.api.bind}:{config.api.port}/ (agents: their name and web_password from "
        f"`callcenter agent credentials`), /wallboard (supervisors; first admin: `admin`, web_admin_password in "
        f"secrets.yaml)",
        f"  email      smtp://{config.email.smtp_bind}:{config.email.smtp_port} (mail to any address lands on "
        f"tickets)" if config.email.enabled else "  email      off (email.enabled)",
        f"  chat       http://{config.api.bind}:{config.api.port}/chat/demo.html (the widget: "
        f"<script src=\"http://{config.api.bind}:{config.api.port}/chat/widget.js\" async>)" if config.chat.enabled
        else "  chat       off (chat.enabled)",
        f"  agents     register at sip:{sip} (UDP) with these demo credentials:",
    ]
    for name, agent in config.agents.items():
        lines.append(f"    {name:<8} ext {agent.extension:<6} password {creds.agent_passwords[name]}  "
                     f"queues: {', '.join(agent.queues) or '-'}")
    for name, supervisor in config.supervisors.items():
        lines.append(f"    {name:<8} ext {supervisor.extension:<6} password {creds.supervisor_passwords[name]}  "
                     f"supervisor's phone (callcenter call monitor)")
    lines += [
        f"  logs       {config.runtime_dir / 'controller.log'}, {dirs.messages_log}",
        "Press Ctrl-C to stop (Asterisk stops too).",
    ]
    return "\n".join(lines)
