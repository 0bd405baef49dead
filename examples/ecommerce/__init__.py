"""The guide's e-commerce example: SQLite schema and sample data, business rules, SDK server."""
