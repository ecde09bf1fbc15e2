"""Generated syscall tables, one module per architecture."""
