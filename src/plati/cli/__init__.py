"""The ``plati`` command line: ``serve``, ``init`` and ``keys`` work on the database; ``mcp``,
``assistant`` and ``channel`` drive the HTTP API."""
