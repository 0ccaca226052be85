"""Callbacks: request -> scheduled -> waiting in the queue -> dialling -> done | retry | failed | expired |
cancelled. Never lost (persisted before acknowledged), never dialled twice (attempts claimed atomically)."""
