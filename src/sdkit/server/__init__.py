"""`sdkit serve`'s HTTP side: A1111's `/sdapi/v1` API and sdkit's own `/v1`, on FastAPI + uvicorn.

FastAPI is an optional extra (`sdkit-cli[server]`): `settings` and `auth` import nothing of it; the
app (`app.py`) is built only when the command runs (`launch.py`). Generation itself goes through
`sdkit.service`, the queue the web UI shares.
"""
