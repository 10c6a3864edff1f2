"""The browser softphone (WebRTC, docs/softphone.md): an agent's phone in the agent page."""
