"""Curation: contact sheets and the gallery of a run, and reading back what an image records (--inspect,
--from-image). Nothing here imports torch."""
