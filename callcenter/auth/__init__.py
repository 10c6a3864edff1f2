"""Web logins: passwords (argon2, the only package importing argon2-cffi), login throttling, roles.

Users and sessions are rows in the store (store/accounts.py); this package decides, the store keeps.
"""
