"""The last exec goes through a sealed in-memory trampoline (CVE-2019-5736).

The container's init is a forked Python process: its ``/proc/self/exe`` is
the host's interpreter. If the container's program were exec'd directly, a
program that is a script starting ``#!/proc/self/exe`` would make the kernel
run the *host's interpreter* inside the container -- which the container
could then keep a handle on and overwrite once no one runs it.

So the init execs a tiny static program from a sealed memfd (``memfd:
berth-exec``, write/grow/shrink-sealed) which in turn execs the container's
program. While the kernel resolves the program, ``/proc/self/exe`` is that
memfd; a ``#!/proc/self/exe`` script gets the trampoline, which refuses to
run when not called by berth (its argv[0] is not ``berth-exec``) and exits
126. The host's binary is never reachable. Cost: one memfd of 191 bytes and
one extra execve of a static 71-byte program (~0.2 ms).

The engine's monitor makes one memfd (:func:`sealed_fd`) and keeps it for all
the processes it starts (it is sealed: it cannot change); they get it in
their process plan, and inherit it at the fork. ``berth-runtime`` starts one
container: a thread makes its memfd while the runtime plans the container
(berth.runtime.create), and the init inherits it at the fork.

The program (x86_64; other machines exec directly, dumpable=0 still guards
the init while it waits)::

    argv[0] must start with "berth-ex"          else exit(126)
    execve(argv[1], &argv[2], envp)
    exit(errno == ENOENT ? 127 : 126)

Seccomp: the trampoline is started with execveat(2) (fexecve), the program
with execve(2); a profile must allow both (Docker's and berth's do). When
execveat is refused, the init execs the program directly.
"""

from __future__ import annotations

import os

NAME = "berth-exec"

_CODE_X86_64 = bytes.fromhex(
    "488b4c2408"  # mov rcx, [rsp+8]          argv[0]
    "488b09"  # mov rcx, [rcx]                first 8 bytes of it
    "48ba"
    + b"berth-ex".hex()  # movabs rdx, "berth-ex"
    + "4839d1"  # cmp rcx, rdx
    "7524"  # jne fail
    "488b0424"  # mov rax, [rsp]              argc
    "488b7c2410"  # mov rdi, [rsp+16]         argv[1]: the program
    "488d742418"  # lea rsi, [rsp+24]         &argv[2]: its argv
    "488d54c410"  # lea rdx, [rsp+rax*8+16]   envp
    "b83b000000"  # mov eax, 59 (execve)
    "0f05"  # syscall
    "bf7f000000"  # mov edi, 127
    "83f8fe"  # cmp eax, -ENOENT
    "7405"  # je exit
    "bf7e000000"  # fail: mov edi, 126
    "b8e7000000"  # exit: mov eax, 231 (exit_group)
    "0f05"  # syscall
)


def _le(*fields: tuple[int, int]) -> bytes:
    """Little-endian (value, size in bytes) fields, packed (struct is not needed here)."""
    return b"".join(value.to_bytes(size, "little") for value, size in fields)


def elf_x86_64(code: bytes = _CODE_X86_64) -> bytes:
    """A minimal static ELF64 executable: header, one PT_LOAD, the code."""
    base = 0x400000
    ehdr, phdr = 64, 56
    size = ehdr + phdr + len(code)
    ident = b"\x7fELF" + bytes((2, 1, 1, 0)) + bytes(8)
    # e_type EXEC, e_machine x86_64, e_version, e_entry, e_phoff, e_shoff, e_flags,
    # e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    header = ident + _le(
        (2, 2), (0x3E, 2), (1, 4), (base + ehdr + phdr, 8), (ehdr, 8), (0, 8), (0, 4),
        (ehdr, 2), (phdr, 2), (1, 2), (0, 2), (0, 2), (0, 2),
    )  # fmt: skip
    # p_type LOAD, p_flags R+X, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    program = _le(
        (1, 4), (5, 4), (0, 8), (base, 8), (base, 8), (size, 8), (size, 8), (0x1000, 8)
    )  # fmt: skip
    return header + program + code


_F_ADD_SEALS = 1033
_SEALS = 0x1 | 0x2 | 0x4 | 0x8  # SEAL | SHRINK | GROW | WRITE
_MFD_EXEC = 0x10


def sealed_fd() -> int | None:
    """A close-on-exec, sealed memfd holding the trampoline (None: not on this machine,
    or the kernel refuses one)."""
    if os.uname().machine != "x86_64" or not hasattr(os, "memfd_create"):
        return None
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create(NAME, flags | _MFD_EXEC)
    except OSError:
        try:
            fd = os.memfd_create(NAME, flags)
        except OSError:
            return None
    try:
        data = elf_x86_64()
        os.write(fd, data)
        os.fchmod(fd, 0o555)
        import fcntl

        fcntl.fcntl(fd, _F_ADD_SEALS, _SEALS)
    except OSError:
        os.close(fd)
        return None
    return fd


def execve(program: str, args: list[str], env: dict[str, str], fd: int | None = None) -> None:
    """Exec ``program`` with ``args`` through the trampoline (or directly); raises on failure.
    ``fd``: the trampoline's memfd (from :func:`sealed_fd`), else one is made now."""
    if fd is None:
        fd = sealed_fd()
    if fd is not None:
        try:
            os.execve(fd, [NAME, program, *args], env)
        except OSError:
            os.close(fd)  # e.g. a seccomp profile without execveat: go direct
    os.execve(program, args, env)
