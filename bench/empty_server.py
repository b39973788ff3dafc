"""``python -m bench.empty_server PORT [WORKERS]``: the HTTP ceiling, a no-op FastAPI app on uvicorn.

It reads each request's body and answers an empty 200 on every path, on uvicorn with httptools and
uvloop and as many worker processes as the ingress runs: the same generator sends it the same requests
as the hub, so the ratio between the two is what the hub's own work costs.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.api_route("/{path:path}", methods=["GET", "POST"])
async def noop(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


if __name__ == "__main__":
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run(
        app if workers == 1 else "bench.empty_server:app",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        workers=workers if workers > 1 else None,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
