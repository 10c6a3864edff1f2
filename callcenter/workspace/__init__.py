"""The agents' workspace and the supervisors' wallboard: pages, logins, live push (docs/web.md)."""
