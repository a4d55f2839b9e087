"""The typed facade over pluggy: the only code that calls ``pm.hook``.

One :class:`Plugins` per application object (a thin ``multus`` process has one; the daemon has
one for its lifetime; each test makes a fresh one). Backends are found through entry points:

* the ones this distribution ships (``plugins/`` in the source tree) are always available;
* those of other distributions load only when enabled by name, in the config key ``plugins`` or
  the environment variable ``MULTUS_PLUGINS`` (comma separated).

A family's entry points are imported only when a request first calls one of its hooks, so a DEL
served from the cache never imports the Kubernetes backend, and ``VERSION`` imports none.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import inspect
import logging
import os
import threading
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from multus.errors import PLUGIN_FAILED, PLUGIN_LOAD_FAILED, CNIError
from multus.plugin import entrypoints, hookspec, models
from multus.plugin.entrypoints import EntryPointRef

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from multus.plugin.models import (
        Attachment,
        DaemonContext,
        Delegate,
        NetworkConfig,
        NetworkRef,
        PodInfo,
        RequestContext,
    )

log = logging.getLogger("multus.plugins")



DISTRIBUTION = "multus"
ENV_ENABLE = "MULTUS_PLUGINS"
DEFAULTS_MODULE = "multus.engine.defaults"

_ANSWERED: contextvars.ContextVar[str] = contextvars.ContextVar("multus_answered", default="")
"""The plugin whose implementation gave the last answer of a first-result hook (this thread)."""


def _recording(function: Any, plugin_name: str) -> Any:
    """``function`` (a first-result hook implementation) noting who answered, so that a wrong
    answer is attributed to the one plugin that gave it."""
    @functools.wraps(function)
    def answer(*args: Any, **kwargs: Any) -> Any:
        out = function(*args, **kwargs)
        if out is not None:
            _ANSWERED.set(plugin_name)
        return out
    return answer


def group_of(family: str) -> str:
    return f"multus.{family}"


def hook_names() -> list[str]:
    """The names of every hook of the specification."""
    return sorted(n for n in vars(hookspec) if n.startswith(f"{hookspec.PROJECT}_"))


def closest(name: str, names: Iterable[str], *, named: bool = False) -> str:
    """`` (did you mean 'x'?)`` for the name closest to ``name``, or an empty string; with
    ``named``, `` ('name': did you mean 'x'?)`` (one hint per name in a list of several)."""
    import difflib  # only for an error message

    match = difflib.get_close_matches(name, list(names), n=1)
    if not match:
        return ""
    return f" ({name!r}: did you mean {match[0]!r}?)" if named else f" (did you mean {match[0]!r}?)"


def check_hook_names(plugin: object, label: str) -> None:
    """A ``multus_*`` attribute that names no hook is a misspelt hook: fail at load, not silently."""
    known = hook_names()
    for attr in sorted(dir(plugin)):
        if attr.startswith(f"{hookspec.PROJECT}_") and attr not in known and callable(getattr(plugin, attr, None)):
            raise CNIError(PLUGIN_LOAD_FAILED, f"{label}: {attr!r} is not a multus hook{closest(attr, known)}")


def _code_of(impl: Any) -> Any:
    """The code object of a hook implementation's function (``None`` if it has none)."""
    function = inspect.unwrap(impl.function)
    return getattr(getattr(function, "__func__", function), "__code__", None)


def _default_name(plugin: object) -> str:
    """The name of a plugin registered without one: its module's or its class's name."""
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) and name else type(plugin).__name__


class Plugins:
    """Typed access to every hook, with lazy, per-family loading of entry points."""

    def __init__(self, enabled: Iterable[str] = (), env: Mapping[str, str] | None = None,
                 entry_points: bool = True) -> None:
        env = os.environ if env is None else env
        self.pm = pluggy.PluginManager(hookspec.PROJECT)
        self.pm.add_hookspecs(hookspec)
        self._record_answers(self.pm.register(importlib.import_module(DEFAULTS_MODULE), name=DEFAULTS_MODULE))
        self.enabled = {n.strip() for n in enabled if n.strip()}
        self.enabled |= {n.strip() for n in env.get(ENV_ENABLE, "").split(",") if n.strip()}
        self._use_entry_points = entry_points
        self._loaded: set[str] = set()
        self._lock = threading.RLock()
        self._own: list[EntryPointRef] | None = None
        self._origin: dict[str, str] = {DEFAULTS_MODULE: DISTRIBUTION}
        self.state: dict[str, Any] = {}
        """Plugin state that outlives one request (the daemon's API clients, for example)."""

    # --- loading ---------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module directly (custom meta-plugins, tests).

        Raises:
            CNIError: (``PLUGIN_LOAD_FAILED``) a ``multus_*`` attribute is no hook (a misspelt
                name), or a hook implementation does not match its specification.
        """
        if name is None:
            base = name = _default_name(plugin)
            n = 1
            while self.pm.get_plugin(name) is not None and not self.pm.is_registered(plugin):
                n += 1
                name = f"{base}-{n}"  # two instances of one class
        self._register(plugin, name, f"multus plugin {name!r}", "")

    def _register(self, plugin: object, name: str | None, label: str, dist: str) -> None:
        check_hook_names(plugin, label)
        try:
            registered = self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as e:
            raise CNIError(PLUGIN_LOAD_FAILED, f"{label}: {e}") from e
        if registered is not None:
            self._origin[registered] = dist
            self._record_answers(registered)

    def _record_answers(self, name: str | None) -> None:
        plugin = self.pm.get_plugin(name) if name is not None else None
        callers = self.pm.get_hookcallers(plugin) if plugin is not None else None
        for caller in callers or []:
            if not (caller.spec and caller.spec.opts.get("firstresult")):
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy calls impl.function; its argument names were read from the original
                    impl.function = _recording(impl.function, impl.plugin_name)  # type: ignore[misc]

    def enable(self, names: Iterable[str]) -> None:
        """Enable more third-party plugins (e.g. from the config key ``plugins``)."""
        new = {n for n in names if n} - self.enabled
        if new:
            with self._lock:
                self.enabled |= new
                self._loaded.clear()  # groups already loaded may have entries for the new names

    def load_family(self, family: str) -> None:
        """Import and register a family's entry points, once; safe with concurrent requests."""
        if family in self._loaded or not self._use_entry_points:
            return
        with self._lock:
            if family not in self._loaded:
                self._load_family(family)

    def warm_up(self) -> None:
        """Load every family now (a long-lived process does it before its first request); a
        family that fails to load is left for each request to report."""
        for family in hookspec.FAMILIES:
            try:
                self.load_family(family)
            except CNIError as e:
                log.error("loading the %s plugins: %s", family, e.msg)

    def _load_family(self, family: str) -> None:
        group = group_of(family)
        for ep, dist in self._entry_points(group):
            if self.pm.get_plugin(f"{group}:{ep.name}") is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as e:
                raise CNIError(PLUGIN_LOAD_FAILED,
                               f"multus plugin {ep.name!r} ({ep.value}) of distribution {dist!r} "
                               f"failed to import: {type(e).__name__}: {e}") from e
            if self.pm.is_registered(plugin):
                continue  # one module named in several groups: its hooks are all registered already
            self._register(plugin, f"{group}:{ep.name}",
                           f"multus plugin {ep.name!r} ({ep.value}) of distribution {dist!r}", dist)
            log.debug("loaded multus plugin %s (%s) of distribution %s", ep.name, ep.value, dist)
        self._loaded.add(family)

    def owners(self, hook: str) -> str:
        """Who implements ``hook``: plugin names and distributions, for error messages."""
        return self._describe_all(self._impls(hook))

    def _impls(self, hook: str) -> list[Any]:
        """The implementations of ``hook`` other than the core defaults."""
        return [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name != DEFAULTS_MODULE]

    def _describe_all(self, impls: list[Any]) -> str:
        return ", ".join(self.describe(i.plugin_name) for i in reversed(impls)) or "the multus defaults"

    def describe(self, name: str) -> str:
        """``multus plugin 'short' (name) of distribution 'dist'``: how every error names a plugin
        (``name`` is ``group:entry-point`` for an installed one, its own name for one registered
        directly)."""
        short = name.split(":", 1)[1] if ":" in name else name
        plugin = self.pm.get_plugin(name)
        dist = self._origin.get(name) or (_distribution_of(plugin) if plugin is not None else "")
        return f"multus plugin {short!r} ({name})" + (f" of distribution {dist!r}" if dist else "")

    def _entry_points(self, group: str) -> list[tuple[EntryPoint | EntryPointRef, str]]:
        out: list[tuple[EntryPoint | EntryPointRef, str]] = []
        if self._own is None:
            self._own = entrypoints.own(DISTRIBUTION) or []
        out += [(ep, DISTRIBUTION) for ep in self._own if ep.group == group]
        if self.enabled:
            from importlib import metadata

            for ep in metadata.entry_points(group=group):
                dist = ep.dist.name if ep.dist is not None else "?"
                if dist == DISTRIBUTION:
                    continue
                if ep.name in self.enabled:
                    out.append((ep, dist))
                else:
                    log.debug("multus plugin %s (%s) of distribution %s is installed but not enabled",
                              ep.name, ep.value, dist)
        return out

    # --- daemon lifecycle ------------------------------------------------------------------

    def daemon_started(self, daemon: DaemonContext) -> None:
        """Tell the plugins that the daemon starts (the thin plugin never calls this)."""
        self.load_family("lifecycle")
        self.pm.hook.multus_lifecycle_daemon_started(daemon=daemon)

    def daemon_stopping(self, daemon: DaemonContext) -> None:
        try:
            self.load_family("lifecycle")
            self.pm.hook.multus_lifecycle_daemon_stopping(daemon=daemon)
        except Exception:
            log.exception("a lifecycle plugin failed while the daemon stopped")

    def check_enabled_installed(self) -> None:
        """Every enabled name must be some installed distribution's entry point."""
        if not self.enabled or not self._use_entry_points:
            return
        from importlib import metadata

        known = {ep.name for fam in hookspec.FAMILIES for ep in metadata.entry_points(group=group_of(fam))}
        missing = sorted(self.enabled - known)
        if missing:
            hints = "".join(closest(m, known, named=len(missing) > 1) for m in missing)
            raise CNIError(PLUGIN_LOAD_FAILED, f"plugins: enabled multus plugin(s) {missing} are not installed"
                           f"{hints}; installed: {sorted(known)} "
                           f"(entry points of groups {[group_of(f) for f in hookspec.FAMILIES]})")

    def _check(self, hook: str, value: Any, types: type | tuple[type, ...]) -> None:
        """A hook's answer must be of ``types``: else a CNIError (code 103) that names the plugin
        that gave it, its distribution and the hook, with the implementation's file and line."""
        if value is None or isinstance(value, types):
            return
        impls = self._answered_by(hook)
        code = _code_of(impls[0]) if len(impls) == 1 else None
        where = f"{code.co_filename}:{code.co_firstlineno} in {code.co_name}" if code is not None else ""
        who = self._describe_all(impls)
        want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise CNIError(PLUGIN_FAILED, f"{who} failed in hook {hook}: it returned {type(value).__name__}, "
                       f"expected {want}", where)

    def _answered_by(self, hook: str) -> list[Any]:
        """The implementations of ``hook`` that may have given its answer, for errors: the one
        that answered last if it implements ``hook`` (first-result hooks), else all but the
        defaults."""
        impls = self._impls(hook)
        return [i for i in impls if i.plugin_name == _ANSWERED.get()] or impls

    # --- errors ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def attributed(self, hook: str) -> Iterator[None]:
        """Around a ``pm.hook`` call: an exception other than :class:`CNIError` raised by a hook
        implementation becomes a CNIError (code 103) that names the plugin, its distribution and
        the hook, instead of an anonymous internal error. A CNIError is a plugin's own answer and
        passes unchanged."""
        try:
            yield
        except CNIError:
            raise
        except Exception as e:
            raise self._plugin_error(hook, e) from e

    def _plugin_error(self, hook: str, e: Exception) -> CNIError:
        impls: dict[Any, Any] = {}
        caller = getattr(self.pm.hook, hook, None)
        for impl in (caller.get_hookimpls() if caller is not None else []):
            impls[_code_of(impl)] = impl
        culprit, where, tb = None, "", e.__traceback__
        while tb is not None:  # the innermost implementation on the stack is the one that raised
            culprit = impls.get(tb.tb_frame.f_code, culprit)
            code = tb.tb_frame.f_code
            where = f"{code.co_filename}:{tb.tb_lineno} in {code.co_name}"
            tb = tb.tb_next
        what = f"{type(e).__name__}: {e}"
        if culprit is None:
            err = CNIError(PLUGIN_FAILED, f"hook {hook} failed: {what}", where)
        else:
            err = CNIError(PLUGIN_FAILED, f"{self.describe(culprit.plugin_name)} failed in hook {hook}: {what}",
                           where)
        log.error("%s (at %s)", err.msg, where)
        return err

    # --- source ----------------------------------------------------------------------------

    def source_pod(self, ctx: RequestContext) -> PodInfo | None:
        self.load_family("source")
        with self.attributed("multus_source_pod"):
            out = self.pm.hook.multus_source_pod(ctx=ctx)
        self._check("multus_source_pod", out, models.PodInfo)
        return out  # type: ignore[no-any-return]

    def source_network(self, ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
        self.load_family("source")
        with self.attributed("multus_source_network"):
            out = self.pm.hook.multus_source_network(ctx=ctx, ref=ref)
        self._check("multus_source_network", out, models.NetworkConfig)
        return out  # type: ignore[no-any-return]

    def source_delegates(self, ctx: RequestContext) -> list[Delegate]:
        self.load_family("source")
        with self.attributed("multus_source_delegates"):
            out = self.pm.hook.multus_source_delegates(ctx=ctx)
        self._check("multus_source_delegates", out, list)
        delegate = models.Delegate
        for d in out or []:
            self._check("multus_source_delegates", d, delegate)
        return out or []

    def source_resource_map(self, ctx: RequestContext) -> dict[str, list[str]]:
        self.load_family("source")
        with self.attributed("multus_source_resource_map"):
            out = self.pm.hook.multus_source_resource_map(ctx=ctx)
        self._check("multus_source_resource_map", out, dict)
        return out or {}

    # --- delegate --------------------------------------------------------------------------

    def delegate_invoke(self, ctx: RequestContext, delegate: Delegate, command: str,
                        attachments: list[dict[str, str]] | None = None) -> dict[str, Any]:
        self.load_family("delegate")
        with self.attributed("multus_delegate_invoke"):
            out = self.pm.hook.multus_delegate_invoke(ctx=ctx, delegate=delegate, command=command,
                                                      attachments=attachments or [])
        self._check("multus_delegate_invoke", out, dict)
        return out if out is not None else {}

    # --- result ----------------------------------------------------------------------------

    def result_merge(self, ctx: RequestContext, attachments: list[Attachment]) -> dict[str, Any]:
        self.load_family("result")
        with self.attributed("multus_result_merge"):
            out = self.pm.hook.multus_result_merge(ctx=ctx, attachments=attachments)
        self._check("multus_result_merge", out, dict)
        return out or {}

    # --- lifecycle -------------------------------------------------------------------------

    def delegate_added(self, ctx: RequestContext, attachment: Attachment) -> None:
        self.load_family("lifecycle")
        with self.attributed("multus_lifecycle_delegate_added"):
            self.pm.hook.multus_lifecycle_delegate_added(ctx=ctx, attachment=attachment)

    def pod_added(self, ctx: RequestContext, attachments: list[Attachment]) -> None:
        self.load_family("lifecycle")
        with self.attributed("multus_lifecycle_pod_added"):
            self.pm.hook.multus_lifecycle_pod_added(ctx=ctx, attachments=attachments)

    def delegate_deleted(self, ctx: RequestContext, delegate: Delegate, error: CNIError | None) -> None:
        try:
            self.load_family("lifecycle")
            with self.attributed("multus_lifecycle_delegate_deleted"):
                self.pm.hook.multus_lifecycle_delegate_deleted(ctx=ctx, delegate=delegate, error=error)
        except CNIError as e:
            log.error("after deleting %s: %s", delegate.name, e.msg)

    def request_done(self, ctx: RequestContext, command: str, error: CNIError | None, seconds: float) -> None:
        try:
            self.load_family("lifecycle")
            with self.attributed("multus_lifecycle_request_done"):
                self.pm.hook.multus_lifecycle_request_done(ctx=ctx, command=command, error=error, seconds=seconds)
        except CNIError as e:
            log.error("after %s: %s", command, e.msg)


def _distribution_of(plugin: object) -> str:
    """The distribution that installed a plugin registered directly (not from an entry point)."""
    module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
    top = str(module or "").split(".")[0]
    from importlib import metadata

    dists = metadata.packages_distributions().get(top) or []
    return ", ".join(sorted(set(dists))) or f"unknown (registered directly, module {module})"
