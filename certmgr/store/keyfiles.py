"""Key, CSR and certificate files on disk, written atomically with safe permissions.

`write_private_file` (keys), `write_public_file` (CSRs, certificates) and
`write_owner_only_file` (exports and backups, in a directory the operator chose):
1. the directory is created if missing (0700 for private files) and, for
   private files, checked: it must be owned by us and closed to group/others
   (`write_owner_only_file` neither creates nor checks it: it must exist);
2. the data goes to a temporary file in the same directory, created with
   O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (0644 for public files), written and
   fsync'ed;
3. the temporary file is renamed over the final name (or hard-linked to it when
   `overwrite=False`, which fails if the name exists) and the directory is
   fsync'ed, so that after a crash the final name holds either the old or the
   new content, never a partial file.

Temporary files are named `.<final name>.certmgr-tmp-<pid>-<random>`: a crash
leaves them behind and `cleanup_stale_temp(directory)` removes those whose
process is gone (`open_store` does it for `keys/` and `csr/` on every start).
Missing parent directories are created 0700 (`make_private_dirs`).

Fault injection (crash tests): `fault(point)` SIGKILLs the process, as a
`kill -9` would, when the environment variable `CERTMGR_FAULT` names the point
(comma-separated list). Other modules call it between the steps of their writes
(`import:*`, `renewal:*`, `crl:*`: see docs/security.md). Points in this module:
- `keyfile:mid-write`: half the data written to the temporary file;
- `keyfile:before-rename`: temporary file complete and fsync'ed, not renamed;
- `keyfile:after-rename`: renamed, directory not yet fsync'ed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
from pathlib import Path

from certmgr.errors import InputError, StoreError

__all__ = [
    "FAULT_ENV",
    "TEMP_MARKER",
    "check_permissions",
    "cleanup_stale_temp",
    "fault",
    "make_private_dirs",
    "read_private_file",
    "write_owner_only_file",
    "write_private_file",
    "write_public_file",
]

FAULT_ENV = "CERTMGR_FAULT"
TEMP_MARKER = ".certmgr-tmp-"
_TEMP_RE = re.compile(r"\..+" + re.escape(TEMP_MARKER) + r"(?P<pid>[0-9]+)-[0-9a-f]{16}")
_MAX_READ = 1024 * 1024


def write_private_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically write `data` (a private key) to `path` with mode 0600 in a 0700 directory.

    Raises InputError when the directory is unsafe (group/other access, another
    owner) or, with `overwrite=False`, when `path` exists; StoreError on I/O failure.
    """
    _ensure_dir(path.parent, private=True)
    _atomic_write(path, data, mode=0o600, overwrite=overwrite)


def write_public_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically write `data` (a CSR, a certificate) to `path` with mode 0644."""
    _ensure_dir(path.parent, private=False)
    _atomic_write(path, data, mode=0o644, overwrite=overwrite)


def write_owner_only_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically write `data` to `path` with mode 0600, in its existing directory.

    For files that hold or travel with a secret but go where the operator says (an
    export, an encrypted backup), often a shared directory: unlike `write_private_file`,
    the directory's mode is not demanded. StoreError on I/O failure (a missing directory
    included); with `overwrite=False`, InputError when `path` exists.
    """
    _atomic_write(path, data, mode=0o600, overwrite=overwrite)


def read_private_file(path: Path) -> bytes:
    """Read a private key file, refusing it when `check_permissions` finds a problem."""
    problems = check_permissions(path)
    if problems:
        raise InputError("; ".join(problems), source=path)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(_MAX_READ + 1)
    except OSError as exc:
        raise InputError(f"cannot read key file: {exc.strerror}", source=path) from None
    if len(data) > _MAX_READ:
        raise InputError("key file is too large", source=path)
    return data


def check_permissions(path: Path) -> list[str]:
    """Problems with a private key file and its directory (empty list: all good).

    The file must be a regular file (not a symlink) owned by us with no access
    for group/others (0600 or 0400); the directory owned by us, mode 0700.
    """
    problems: list[str] = []
    uid = os.geteuid()
    try:
        info = path.lstat()
    except FileNotFoundError:
        return [f"{path}: no such file"]
    except OSError as exc:
        return [f"{path}: {exc.strerror}"]
    if stat.S_ISLNK(info.st_mode):
        problems.append(f"{path}: is a symbolic link")
    elif not stat.S_ISREG(info.st_mode):
        problems.append(f"{path}: not a regular file")
    else:
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            problems.append(f"{path}: mode {mode:04o}, expected 0600 (chmod 600 {path})")
        if info.st_uid != uid:
            problems.append(f"{path}: owned by uid {info.st_uid}, not by us ({uid})")
    problems.extend(_dir_problems(path.parent))
    return problems


def cleanup_stale_temp(directory: Path) -> list[Path]:
    """Remove the temporary files a crashed writer left in `directory`; return them.

    Only names with the certmgr temporary marker are touched, and only when the
    process that created them (the pid in the name) no longer exists.
    """
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = _TEMP_RE.fullmatch(entry.name)
        if match is None or _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` may still be writing. A zombie cannot: a killed worker whose
    parent died too waits, as a zombie, for init to reap it (in a container whose PID 1
    does not reap, for ever), and must not keep its temporary file from being removed."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Linux: the state letter of /proc/<pid>/stat is Z (or X, dead); False elsewhere."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows
    # the last ")"
    end = line.rfind(")")
    return line[end + 2:end + 3] in {"Z", "X"}


def _dir_problems(directory: Path) -> list[str]:
    try:
        info = directory.stat()
    except OSError as exc:
        return [f"{directory}: {exc.strerror}"]
    problems: list[str] = []
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        problems.append(
            f"{directory}: directory mode {mode:04o}, expected 0700 (chmod 700 {directory})"
        )
    if info.st_uid != os.geteuid():
        problems.append(f"{directory}: directory owned by uid {info.st_uid}, not by us")
    return problems


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents with mode 0700 (exactly: not the umask's).

    Directories that already exist are left as they are (`certmgr doctor` reports them);
    raises OSError."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # a concurrent process made it first
        path.chmod(0o700)  # mkdir's mode is filtered by the umask


def _ensure_dir(directory: Path, *, private: bool) -> None:
    try:
        if not directory.is_dir():
            # The parents (the certmgr home, typically) are private whatever we write.
            make_private_dirs(directory.parent)
            try:
                directory.mkdir(mode=0o700 if private else 0o755)
            except FileExistsError:
                pass  # a concurrent writer made it: checked below like any existing one
            else:
                directory.chmod(0o700 if private else 0o755)  # not the umask's mode
    except OSError as exc:
        raise StoreError(f"{directory}: cannot create directory: {exc.strerror}") from None
    if private:
        problems = _dir_problems(directory)
        if problems:
            raise InputError("; ".join(problems), source=directory)


def fault(point: str) -> None:
    """SIGKILL ourselves at `point` when CERTMGR_FAULT names it (crash tests only).

    Every multi-step write of certmgr calls this between its steps with a point named
    `<area>:<step>`; `docs/security.md` lists them. Unset (always, outside tests) it
    costs one environment look-up."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and point in {p.strip() for p in wanted.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)


def _atomic_write(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create temporary file: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it; make it exact
            half = len(data) // 2
            _write_all(fd, data[:half])
            fault("keyfile:mid-write")
            _write_all(fd, data[half:])
            os.fsync(fd)
        finally:
            os.close(fd)
        fault("keyfile:before-rename")
        if overwrite:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise InputError("already exists (refusing to overwrite)", source=path) from None
            tmp.unlink()
        fault("keyfile:after-rename")
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(f"{path}: cannot write: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
