"""Several API processes on one database: what they tell each other (:mod:`.bus`), the leases of
running turns (:mod:`.leases`), and the refusal of a second process on SQLite (:mod:`.sqlite_lock`).
See docs/deployment.md."""
