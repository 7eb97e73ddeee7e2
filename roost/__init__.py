"""roost: one live actor per key, with its own SQLite, WebSockets and alarms."""
