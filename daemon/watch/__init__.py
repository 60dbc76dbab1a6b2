"""Watching the roots: filesystem events and rescans, settled into admitted requests."""
