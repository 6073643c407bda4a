"""The name of one installation, for what several installations may share (a Redis server).

Tasks name rows by id, so a worker must only take tasks of the database it works on: the default name is
derived from that database (its SQLite file, or engine, host, port and name), never from the broker URL.
The engine's default port and the loopback names (localhost, 127.0.0.1, ::1) count as written the same;
machines that reach one database under different host names (an address, a DNS name) set INSTANCE_NAME to
the same value instead (docker/compose.yaml does, for every service).
"""

import hashlib
from pathlib import Path

# Ways of writing one database server that name the same one: the engine's default port, and the loopback
# names of a database on the same machine.
_DEFAULT_PORTS = {"postgresql": "5432", "postgis": "5432", "mysql": "3306"}
_LOOPBACK = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


def instance_name(database: dict) -> str:
    """`ssn-<12 hex>`, the same for every process configured with the same database."""
    if database["ENGINE"].endswith("sqlite3"):
        identity = f"sqlite|{Path(str(database['NAME'])).resolve()}"
    else:
        engine = database["ENGINE"].rsplit(".", 1)[-1]
        host = str(database.get("HOST") or "").lower()
        host = "localhost" if host in _LOOPBACK else host
        port = str(database.get("PORT") or "") or _DEFAULT_PORTS.get(engine, "")
        identity = f"{database['ENGINE']}|{host}|{port}|{database['NAME']}"
    return "ssn-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
