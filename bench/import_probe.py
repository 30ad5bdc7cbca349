"""Import cost, measured in a fresh process: `python bench/import_probe.py ours|peer|floor`.

Stages (wall from `time.perf_counter()`; RSS = the peak so far, VmHWM of /proc/self/status, i.e. ru_maxrss
without the value Linux carries over from the parent process):
  ours:  import lmsystems -> from lmsystems import LmsystemsClient -> LmsystemsClient(direct mode)
  peer:  import langgraph_sdk -> from langgraph_sdk import get_client -> get_client(url=...)
  floor: import httpx -> (same) -> httpx.AsyncClient()
No request is made. Only `time`, `resource` and `sys` are imported before the stages (plus `json` at the
end, to print the result).
"""

import time

T0 = time.perf_counter()

import resource  # noqa: E402
import sys  # noqa: E402

URL = "http://127.0.0.1:9"
ASSISTANT = "6f1f2a3e-8c1d-5b7e-9a0f-3c2d1e4b5a69"


def rss_mb() -> float:
    """Peak RSS so far (MB): VmHWM, which, unlike ru_maxrss, is not inherited from the parent process."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    impl = sys.argv[1]
    stages = [("start", time.perf_counter() - T0, rss_mb())]
    if impl == "ours":
        t = time.perf_counter()
        import lmsystems  # noqa: F401

        stages.append(("import package", time.perf_counter() - t, rss_mb()))
        t = time.perf_counter()
        from lmsystems import LmsystemsClient

        stages.append(("import client class", time.perf_counter() - t, rss_mb()))
        t = time.perf_counter()
        client = LmsystemsClient(graph_name=ASSISTANT, deployment_url=URL)
        stages.append(("create client", time.perf_counter() - t, rss_mb()))
    elif impl == "peer":
        t = time.perf_counter()
        import langgraph_sdk  # noqa: F401

        stages.append(("import package", time.perf_counter() - t, rss_mb()))
        t = time.perf_counter()
        from langgraph_sdk import get_client

        stages.append(("import client class", time.perf_counter() - t, rss_mb()))
        t = time.perf_counter()
        client = get_client(url=URL, api_key=None)
        stages.append(("create client", time.perf_counter() - t, rss_mb()))
    else:
        t = time.perf_counter()
        import httpx

        stages.append(("import package", time.perf_counter() - t, rss_mb()))
        stages.append(("import client class", 0.0, rss_mb()))
        t = time.perf_counter()
        client = httpx.AsyncClient()
        stages.append(("create client", time.perf_counter() - t, rss_mb()))
    del client
    import json

    print(
        json.dumps(
            {
                "ok": True,
                "stages": [{"stage": s, "wall": w, "rss_mb": r} for s, w, r in stages],
                "total_wall": time.perf_counter() - T0,
                "modules": len(sys.modules),
            }
        ),
        flush=True,
    )


main()
