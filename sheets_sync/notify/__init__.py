"""Reminders and digests: what they say (compose), how they travel (channels), the chart they carry (png)."""
