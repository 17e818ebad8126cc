"""The REST API under ``/api/``: routes that authenticate, call the engine acting for the user,
and render the core's results; no rules live here."""
