"""callcenter: a telephony-first contact-center engine (Asterisk + an asyncio controller)."""

__version__ = "0.1.0"
