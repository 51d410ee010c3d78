"""Atomic file writes that respect what the path is (private; a leaf module: no dlcore imports).

:func:`atomic_write` makes a complete new file appear at a path in one step: a temporary file
in the directory of the file being replaced is written, flushed and fsynced, given the mode
(and, where the process may set it, the owner) of the file it replaces, or the umask's default
for a new file (``0o666 & ~umask``, what ``open()`` gives), renamed over it with
``os.replace``, and the directory is fsynced. A process killed at any moment leaves either the
previous file or the complete new one (a stale hidden ``.<name>.*.tmp`` may remain beside it).

What the path is decides what is replaced:

- a regular file, or nothing: that path;
- a symbolic link (or a chain of them): the link is followed and the file it points to is
  replaced atomically; the link itself stays (a dangling link's target is created);
- a directory: :class:`IsADirectoryError`;
- a character or block device, FIFO or socket: :class:`FileExistsError` (errno EEXIST); such a
  path is never replaced and never written through.
"""
import errno
import os
import stat
import tempfile

_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"))


def _umask():
    """The process umask, read without changing it (Linux: /proc), else the usual 022."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def fsync_dir(directory):
    """Make a rename in ``directory`` durable (POSIX; best effort elsewhere)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_target(path):
    """(the path a write to ``path`` replaces, its ``os.stat`` result or None when it does not
    exist yet): symbolic links followed; a directory, device, FIFO or socket raises."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "special file")
        shown = repr(path) + (f" (a link to {target!r})" if target != os.path.abspath(path)
                              else "")
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EEXIST
        raise OSError(code, f"expected a regular file or a new path; {shown} is a {kind}. "
                            "dlcore writes by replacing a regular file atomically and never "
                            "replaces or writes through a directory, device, FIFO or socket",
                      path)
    return target, st


def atomic_write(path, write):
    """Call ``write(f)`` with a binary file object and make the result appear at ``path``
    atomically (see the module notes for symbolic links and special files). On any exception
    (or KeyboardInterrupt) the temporary file is removed and the file is left as it was."""
    target, st = write_target(path)
    directory = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if st is None:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a new file is ordinary
        else:
            if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:  # not permitted: the file becomes the writer's
                    pass
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
