"""The online service: FastAPI app, cache, event ingestion, model hot reload."""
