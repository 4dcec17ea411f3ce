"""artist_search_sync tasks: TattooDirectory artist items (stream -> Pipe) into the search index.

- `prepare_batch.handler`: the Pipe's batch -> the newest change per artist, as documents
  to upsert and ids to delete; logs which fields each MODIFY changed.
- `apply_to_index.handler`: one bulk request to the search index.
- `search_api.handler`: `GET /artists/search` (API Gateway HTTP API, payload v2).
"""
