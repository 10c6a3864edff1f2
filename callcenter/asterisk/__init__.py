"""Our own Asterisk: find the install, render its config from templates, start/stop/adopt it."""
