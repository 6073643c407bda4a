"""Worker bootsteps that do something now and then every period, in a daemon thread, while the worker runs."""

import logging
import threading

from celery import bootsteps

logger = logging.getLogger(__name__)


class PeriodicStep(bootsteps.StartStopStep):
    """Calls `tick(worker)` at start and every `period()` seconds until the worker stops. A tick that fails is
    logged and tried again next period: it never stops the worker."""

    thread_name = "periodic-step"

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def period(self) -> float:
        raise NotImplementedError

    def tick(self, worker) -> None:
        raise NotImplementedError

    def start(self, worker) -> None:
        self._stop.clear()

        def loop() -> None:
            while True:
                try:
                    self.tick(worker)
                except Exception:  # noqa: BLE001 - a missed tick must never stop the worker
                    logger.warning("%s failed", self.thread_name, exc_info=True)
                if self._stop.wait(self.period()):
                    return

        self._thread = threading.Thread(target=loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, worker) -> None:
        self._stop.set()
