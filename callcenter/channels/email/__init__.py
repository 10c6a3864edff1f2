"""Email on the customer's tickets: an SMTP receiver and IMAP polling into one intake, threads by
RFC 5322 Message-ID / In-Reply-To / References, answers through a relay (docs/email.md)."""
