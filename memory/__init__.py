"""Conversation memory: the SQLite log (source of truth), consent, Chroma recall, forgetting, harvesting."""
