"""Networking: Docker's network model on the kernel's own machinery.

- :mod:`.manager` — :class:`~.manager.NetworkManager`, what berthd calls;
- :mod:`.sandbox` — the per-container request and result;
- :mod:`.ipam`, :mod:`.portspec`, :mod:`.files`, :mod:`.nftplan`, :mod:`.dnsmsg`,
  :mod:`.hostinfo` — pure logic (plans and parsers), unit-tested without root;
- :mod:`.host` — the kernel operations (netlink, netns, nftables, sysctls) behind
  one object; :mod:`.dns` — the embedded resolver; :mod:`.store` — the tables;
  :mod:`.model` — Docker's JSON shapes.
"""
