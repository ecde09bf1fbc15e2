"""The Engine API client: hosts, the raw HTTP/1.1 connection, autostart (see ``api``)."""
