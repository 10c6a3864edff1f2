"""The channels that feed the same ticket store as calls, one folder each: `sms/`, `email/`, `chat/`.

Each folder has the same few files: `rules.py` (pure decisions), `service.py` (what the routes, the
CLI and the bus call), `routes.py`, `cli.py`, `settings.py` and `feature.py` (its wiring). `replies.py`:
the one reply route on a ticket, which hands the answer to the channel it names."""
