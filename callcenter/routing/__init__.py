"""Routing: who may take which call, and when.

presence.py (pure: agent states from the device and the queues, queue numbers: SL, ASA, AHT) ·
queues.py (queue memberships and pauses with reasons, kept in the store (or routing.json) and put back
into app_queue after every reconnect) · callbacks.py (queue callbacks: the pure `due()` policy and the
request book) · dialer.py (the bus subscriber that dials callbacks when they are due) ·
clicktocall.py (an agent calls a customer) · service.py (what the routes and other features ask) ·
routes.py, cli.py, settings.py, feature.py (the wiring). Distribution itself is app_queue's
(docs/design.md#1).
"""
