"""The name of one installation, for what several installations may share (a Redis server).

Tasks name rows by id, so a worker must only take tasks of the database it works on: the default name is
derived from that database (its SQLite file, or engine, host, port and name), never from the broker URL.
Machines that reach one database under different host names set INSTANCE_NAME to the same value instead.
"""

import hashlib
from pathlib import Path


def instance_name(database: dict) -> str:
    """`ssn-<12 hex>`, the same for every process configured with the same database."""
    if database["ENGINE"].endswith("sqlite3"):
        identity = f"sqlite|{Path(str(database['NAME'])).resolve()}"
    else:
        host = database.get("HOST") or "localhost"
        identity = f"{database['ENGINE']}|{host}|{database.get('PORT') or ''}|{database['NAME']}"
    return "ssn-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
