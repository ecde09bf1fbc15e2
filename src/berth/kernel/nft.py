"""nftables through libnftables.so.1 (ctypes), without exec'ing ``nft``.

:class:`Nft` holds one libnftables context. :meth:`Nft.run` feeds it nft
script text (what ``nft -f`` reads); a script is one transaction: either
every command in it applies or none does. Output and errors are buffered
and returned / raised as :class:`berth.errors.KernelError` with the
library's message. Calls are serialized by a lock (a context is not
thread-safe). The context talks to the nftables of the netns of the thread
that runs the command.
"""

from __future__ import annotations

import ctypes
import threading

from berth.errors import KernelError

_LIB_NAME = "libnftables.so.1"
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4

_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL(_LIB_NAME, use_errno=True)
        except OSError as e:
            raise KernelError(
                "load", _LIB_NAME, 2, f"install the libnftables1 package ({e})"
            ) from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        _lib = lib
    return _lib


class Nft:
    """One libnftables context (``NFT_CTX_DEFAULT``), output and errors buffered."""

    def __init__(self, json_output: bool = False) -> None:
        self._lib = _load()
        ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise KernelError("nft_ctx_new", "", ctypes.get_errno() or 12)
        self._ctx: int | None = ctx
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)
        if json_output:
            self._lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON)
        self._lock = threading.Lock()

    def run(self, script: str, what: str = "nft") -> str:
        """Run ``script`` as one transaction; return its output (listings)."""
        with self._lock:
            if self._ctx is None:
                raise KernelError("nft", what, 9, "the nftables context is closed")
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
            out = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
            err = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise NftError(what, err.strip() or f"libnftables returned {rc}")
        return out

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None

    def __enter__(self) -> Nft:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NftError(KernelError):
    """An nft script was refused; ``detail`` is libnftables' own message."""

    def __init__(self, what: str, detail: str) -> None:
        self.detail = detail
        super().__init__("nft", what, 22, detail.splitlines()[0] if detail else "")
        self.message = f"nft {what}: {detail}"

    def __str__(self) -> str:
        return self.message
