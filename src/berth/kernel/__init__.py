"""The kernel's interfaces that Python's standard library lacks (mounts, namespaces,
capabilities, seccomp, netlink, nftables, BPF), through ctypes; the only package that
calls them directly."""
