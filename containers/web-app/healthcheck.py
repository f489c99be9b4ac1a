"""Docker HEALTHCHECK for the web app: exit 0 when GET /health answers 200, 1 otherwise.

Standard library only (the image has no curl). Prints one line, which `docker inspect` keeps.
"""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "3000").strip() or "3000"
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = response.status
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: {url}: {exc}")
        return 1
    print(f"{url}: {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
