"""Defaults of bulk work against incident.io (its request limits as this project keeps within
them, the backup folder): a leaf with no imports, so the CLI shows them without loading the client."""

from pathlib import Path

# incident.io documents 1,200 requests per minute per API key.
DOCUMENTED_REQUESTS_PER_MINUTE = 1_200
# 100 below the documented 1,200/minute: room for a `pulumi up` using the same key at the same
# time, and for requests that reach the server later than this process counted them.
DEFAULT_REQUESTS_PER_MINUTE = 1_100
DEFAULT_WORKERS = 8
MAX_WORKERS = 32
BACKUP_DIRECTORY = Path("backups/incident.io")
