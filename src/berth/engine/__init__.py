"""The engine: the daemon itself (``daemon``, ``config``, ``events``, ``filters``,
``sysinfo``) and, from the container work on, the services it runs."""
