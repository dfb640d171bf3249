"""Noise and generators, batching jobs into pipeline calls, and the loop that runs them."""
