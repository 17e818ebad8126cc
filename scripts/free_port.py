"""Print a TCP port free on 127.0.0.1 now (scripts/postgres.sh and scripts/milvus.sh start their servers on one)."""

import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
