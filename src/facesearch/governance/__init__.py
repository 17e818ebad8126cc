"""The rules of accountable use that wrap every entry point: who may act (users, accounts, the role
matrix in policy), why a search may run (purposes, quotas), how long data is kept (retention, legal
holds, opt-outs), the two confirmations (casework), and the hash-chained audit log. Services receive a
:class:`~facesearch.governance.context.Context`."""
