"""Resolving model paths, loading pipelines and their parts, and the cache. Imports no torch at import time."""
