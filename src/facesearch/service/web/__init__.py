"""The web UI: server-rendered Jinja pages over the same engine as the API."""
