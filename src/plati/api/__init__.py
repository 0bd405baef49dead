"""The public HTTP API (SPEC section 5): routers, request bodies, authentication."""
