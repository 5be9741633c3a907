"""The explorer's background work: the worker threads, how their results reach the page (on the document's event
loop), and the sweep that draws the curves over α (:class:`Background`, a mixin of
:class:`srchain.toy.explore.app.Explorer`).
"""

from __future__ import annotations

import functools
import math
import sys
import time
from concurrent.futures import Future

from srchain.toy.explore.model import ALPHAS, MIXING_ALPHAS, _nan, curve_point, mixing, tv_floor

__all__ = ["Background"]


class Background:
    """Worker threads and the sweep over α; the explorer holds the pools, the sources and the progress widgets."""

    # --- threading -----------------------------------------------------------------------------------------
    def _dispatch(self, fn):
        """Run ``fn`` where it may touch the document: directly outside a server, else on its event loop."""
        doc = self._doc
        if doc is None or doc.session_context is None or not self.background:
            fn()
        else:
            doc.add_next_tick_callback(fn)

    def _submit(self, pool, fn, *args):
        if not self.background:
            f = Future()
            try:
                f.set_result(fn(*args))
            except Exception as exc:  # noqa: BLE001 - shown in the page by the caller
                f.set_exception(exc)
            return f
        f = pool.submit(fn, *args)
        with self._lock:
            self._pending = [p for p in self._pending if not p.done()] + [f]
        return f

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait (at most ``timeout`` s) until no computation is pending; True if none is left."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                pending = [p for p in self._pending if not p.done()]
            if not pending:
                return True
            try:
                pending[0].result(timeout=max(0.01, end - time.monotonic()))
            except Exception:  # noqa: BLE001
                pass
        return False

    def close(self):
        self._gen += 1
        self._now.shutdown(wait=False, cancel_futures=True)
        self._sweep_pool.shutdown(wait=False, cancel_futures=True)

    # --- the curves over α (background) ------------------------------------------------------------------
    def _start_sweep(self):
        if not self._setting_ok():
            return
        s, method, eps, gen = self.setting, self.method, float(self.eps), self._gen
        want_mix = bool(self.show_mixing) and method != "bc"
        self.pane_mix.visible = bool(self.show_mixing)
        total = len(ALPHAS) + (len(MIXING_ALPHAS) if want_mix else 0)
        self.progress.max = total
        self.progress.value = 0
        self.progress.visible = True
        self.progress_text.object = "computing the curves over α…"
        fut = self._submit(self._sweep_pool, self._sweep, s, method, eps, want_mix, gen)
        fut.add_done_callback(functools.partial(self._sweep_failed, gen))

    def _sweep_failed(self, gen, fut):
        """A sweep that raised (a bug): its traceback to the server's log and its message to the page, instead of
        curves that silently stop filling in."""
        if fut.cancelled() or fut.exception() is None:
            return
        import sys
        import traceback

        exc = fut.exception()
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)

        def show():
            if gen == self._gen:
                self._show_error(f"internal error while computing the curves over α: {exc!r}")
                self.progress.visible = False

        self._dispatch(show)

    def _sweep(self, s, method, eps, want_mix, gen):
        # the current α's neighbours first, so the slider's next steps are cache hits soonest
        here = float(self.alpha)
        order = sorted(range(len(ALPHAS)), key=lambda i: abs(math.log(ALPHAS[i] / here)))
        done = 0
        floor = tv_floor(s)
        batch = []
        last = time.monotonic()
        for i in order:
            if gen != self._gen:
                return
            t, m, _ = curve_point(s, method, ALPHAS[i])
            batch.append((i, t, m))
            done += 1
            if time.monotonic() - last > 0.25 or done == len(ALPHAS):
                patch, batch, last = self._curve_patch(batch, floor), [], time.monotonic()
                self._dispatch(functools.partial(self._apply_curve, patch, done, gen))
        # every point again, from the memo (instant): the done step checks that the page's source holds each one
        final = self._curve_patch([(i, *curve_point(s, method, a)[:2]) for i, a in enumerate(ALPHAS)], floor)
        if want_mix:
            rows = []
            for a in MIXING_ALPHAS:
                if gen != self._gen:
                    return
                rows.append(mixing(s, method, a, eps))
                done += 1
                self._dispatch(functools.partial(self._apply_mix, list(rows), done, gen))
        self._dispatch(functools.partial(self._sweep_done, gen, final))

    def _apply_curve(self, patch, done, gen):
        if gen != self._gen:
            return
        if patch["tv"]:
            self.src_curve.patch(patch)
        self.progress.value = min(done, self.progress.max)

    def _apply_mix(self, rows, done, gen):
        if gen != self._gen:
            return
        self.src_mix.data = dict(
            alpha=[r["alpha"] for r in rows],
            exact=[_nan(r["mixing_time"]) for r in rows],
            lower=[_nan(r["lower_bound"]) if (r["lower_bound"] or 0) > 0 else math.nan for r in rows],
            upper=[_nan(r["upper_bound"]) for r in rows],
        )
        self.progress.value = min(done, self.progress.max)

    def _resend(self):
        """Send the curves and the mixing times whole, once the page has loaded: a change applied while the
        browser was still fetching the document can miss it (a sweep of cached points ends in milliseconds, before
        the page is up). ``trigger`` sends the current value even where the server holds it already."""
        for src in (self.src_curve, self.src_mix):
            src.trigger("data", src.data, src.data)

    def _sweep_done(self, gen, final):
        if gen != self._gen:
            return
        self.progress.visible = False
        self.progress_text.object = ""
        # a point the sweep computed that the source lacks (seen once in a test under load: 2 of 41 never reached
        # the page) is put back, and said in the server's log
        have = self.src_curve.data["mass"]
        lost = [i for i, m in final["mass"] if m == m and not have[i] == have[i]]
        if lost:
            print(f"srchain explore: the curves' source lacked the points {lost}; put back", file=sys.stderr)
            self.src_curve.patch({k: [p for p in v if p[0] in lost] for k, v in final.items()})
        # the finished curves are sent whole: the page then holds every point even where one of the patches above
        # never reached it (a patch applied while the browser was still connecting, for one)
        self._resend()

    @staticmethod
    def _curve_patch(points, floor) -> dict:
        """Patch of the curves' source for ``(i, tv, mass)`` points: TV at or above the solver's accuracy is data
        (``tv``); below it, it is drawn at the floor (``floor``) and not as data."""
        patch = {"tv": [], "floor": [], "mass": [], "tv_raw": []}
        for i, t, m in points:
            t = _nan(t)
            below = math.isfinite(t) and t < floor
            patch["tv"].append((i, math.nan if below else t))
            patch["floor"].append((i, floor if below else math.nan))
            patch["mass"].append((i, _nan(m)))
            patch["tv_raw"].append((i, t))
        return patch
