"""An echo and JSON-RPC server on the Python `websockets` package, for the
targets tests: it serves /ws only, requires the header X-Api-Key, greets
each connection, echoes every message (a JSON request with
"method": "echo" gets a JSON-RPC reply carrying its id instead), and after
every 10th message sends an unrelated notice.

    python server.py KEY        prints "listening on PORT", then serves
"""

import asyncio
import json
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve

KEY = sys.argv[1]


async def handler(ws):
    await ws.send(json.dumps({"type": "hello", "server": "python-websockets"}))
    n = 0
    async for message in ws:
        n += 1
        doc = None
        if isinstance(message, str) and message.startswith("{"):
            try:
                doc = json.loads(message)
            except ValueError:
                doc = None
        if isinstance(doc, dict) and doc.get("method") == "echo":
            reply = {"jsonrpc": "2.0", "id": doc.get("id"), "result": doc.get("params")}
            await ws.send(json.dumps(reply))
        else:
            await ws.send(message)
        if n % 10 == 0:
            await ws.send(json.dumps({"type": "notice", "n": n}))


def process_request(connection, request):
    if request.path != "/ws":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    if request.headers.get("X-Api-Key") != KEY:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong X-Api-Key\n")
    return None


async def main():
    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on {port}", flush=True)
        await server.serve_forever()


asyncio.run(main())
