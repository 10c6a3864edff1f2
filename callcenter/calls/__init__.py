"""Calls followed by Linkedid, and their records."""
