# -- Prometheus multiprocess metrics (widget_server.metrics) --------------------------------
# Every worker writes its metric values to files in PROMETHEUS_MULTIPROC_DIR and a scrape of
# any worker sums them. The variable must be set before a worker imports prometheus_client,
# hence here, at the top level of the config, which the master reads before anything else.
# Each master start begins with no values (an earlier run's would be summed in): a directory
# of its own, removed when the master exits, or the operator's PROMETHEUS_MULTIPROC_DIR with
# its metric files (*.db) deleted. A reload (SIGHUP) keeps them: the workers still count.
import atexit as _atexit
import glob as _glob
import os as _os
import shutil as _shutil
import tempfile as _tempfile


def _metrics_directory() -> str:
    given = _os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given and _os.environ.get("SHAREBAR_METRICS_MASTER") == str(_os.getpid()):
        return given
    _os.environ["SHAREBAR_METRICS_MASTER"] = str(_os.getpid())
    if given:
        _os.makedirs(given, mode=0o700, exist_ok=True)
        for stale in _glob.glob(_os.path.join(given, "*.db")):
            _os.remove(stale)
        return given
    made = _tempfile.mkdtemp(prefix="sharebar-metrics-")
    master = _os.getpid()
    _atexit.register(lambda: _os.getpid() == master and _shutil.rmtree(made, ignore_errors=True))
    return made


_os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_directory()


def child_exit(server, worker):
    """Forget a dead worker's live gauges; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
