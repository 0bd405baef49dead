"""Runnable example function servers built from the guide, and the end-to-end demo."""
