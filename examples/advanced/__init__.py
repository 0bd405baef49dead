"""The guide's advanced patterns: per-conversation state, background work, function chaining."""
