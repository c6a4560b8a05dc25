"""The run log: what every writing operation did, stored per workspace home in SQLite."""
