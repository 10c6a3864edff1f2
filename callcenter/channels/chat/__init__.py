"""Web chat on the customer's tickets: the visitor's widget, routing to agents by skill and
capacity, the agents' chat API (docs/chat.md)."""
