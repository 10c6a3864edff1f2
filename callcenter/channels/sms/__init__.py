"""SMS on the customer's tickets: inbound by the provider's signed webhook, replies and the
missed-call text through the provider (docs/sms.md)."""
