"""The secondary channels that feed the same ticket store as calls: SMS (here), email and web chat
(later). Pure rules live apart from I/O: sms.py decides, providers.py talks to the outside."""
