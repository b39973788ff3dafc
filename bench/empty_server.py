"""``python -m bench.empty_server PORT``: the HTTP ceiling, FastAPI on uvicorn answering an empty 200."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/")
@app.post("/")
async def empty() -> Response:
    return Response(status_code=200)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None)  # as the deployables run
