"""pytest plugin for intrapump (registered through the ``pytest11`` entry point).

Fixtures for testing programmer software against a virtual pump are added here.
"""
