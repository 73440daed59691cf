"""``synbiolab serve``: one local web page on a runs folder.

The page lists every run, draws learning curves that grow while a run trains, shows the diagnosis with its
fixes, lets the user draw a digit for an image classifier, paste DNA for a sequence model and sample GANs.
Everything it loads ships inside this package (no CDN, no remote fonts) and it sends no telemetry.

Needs the ``web`` extra: ``pip install -e ".[web]"``.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

from .models import SynbiolabError

__all__ = ["create_app", "serve"]


def create_app(runs: str | Path = "runs", **kwargs):
    """The FastAPI application on a runs folder (see ``synbiolab.web.app.create_app``)."""
    _check_installed()
    from .app import create_app as make

    return make(runs, **kwargs)


def _check_installed() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise SynbiolabError(f"the web page needs the web extra ({exc.name} is missing): "
                             "pip install -e \".[web]\"") from None


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise SynbiolabError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port "
                                 "or --host") from None


def serve(runs: str | Path = "runs", host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the page on `host`:`port` until Ctrl-C; print its address first.

    Args:
        runs: the runs folder to show.
        host: the address to listen on; 127.0.0.1 (this machine only) unless told otherwise.
        port: the TCP port.

    Raises:
        SynbiolabError: the web extra is missing, the runs folder does not exist or the port is taken.
    """
    _check_installed()
    import uvicorn

    if not 0 < port < 65536:
        raise SynbiolabError(f"--port {port}: give a port between 1 and 65535")
    app = create_app(runs)
    _check_port(host, port)
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        print(f"warning: listening on {host}, not only on this machine: anyone who can reach it sees the runs "
              f"in {runs} (use --host 127.0.0.1 to keep it local)", file=sys.stderr)
    print(f"synbiolab: serving {runs} at http://{shown}:{port}/ (API documentation at /docs); Ctrl-C stops",
          flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)
