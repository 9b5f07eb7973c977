"""Skips only for the reasons listed in tests/allowed_skips.txt (pytest hooks; tests/conftest.py imports them).

Checked when CI=true or ASTROTUNE_ALLOWED_SKIPS_ONLY=1 (.ci/run sets both): a test that skips for a
reason matching no rule fails (its skip becomes a failure with the reason and the list's path), and a
module skipped at collection (``pytest.importorskip`` at module level) is listed at the end of the run
and makes its exit status non-zero. In CI only the ``anywhere`` rules apply; outside it the ``local``
ones too. ASTROTUNE_ALLOWED_SKIPS_FILE names another list (for the policy's own tests).
"""

import os
import re
from pathlib import Path

import pytest

DEFAULT_LIST = Path(__file__).with_name("allowed_skips.txt")
WHERE = ("anywhere", "local")


def in_ci():
    """Whether this run is CI's (CI=true, as CI sets it and .ci/run exports it)."""
    return os.environ.get("CI", "").lower() == "true"


def enforced():
    """Whether skips are checked against the list in this run."""
    return in_ci() or os.environ.get("ASTROTUNE_ALLOWED_SKIPS_ONLY") == "1"


def list_path():
    return Path(os.environ.get("ASTROTUNE_ALLOWED_SKIPS_FILE", DEFAULT_LIST))


def read_rules(path):
    """[(where, compiled regex)] from ``path``; a malformed line raises ValueError naming it."""
    rules = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where, _, pattern = line.strip().partition(" ")
        pattern = pattern.strip()
        if where not in WHERE or not pattern:
            raise ValueError(f"{path}:{number}: expected 'anywhere|local REGEX', got {line!r}")
        try:
            rules.append((where, re.compile(pattern)))
        except re.error as err:
            raise ValueError(f"{path}:{number}: bad regex {pattern!r}: {err}") from err
    return rules


def skip_reason(report):
    """The reason a skipped report gives ('' when none)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return text.removeprefix("Skipped: ").removeprefix("Skipped").strip()


def allowed(reason, rules, ci):
    """Whether ``reason`` matches a rule that applies (in CI: ``anywhere`` rules only)."""
    return bool(reason) and any(pattern.search(reason) for where, pattern in rules
                                if where == "anywhere" or not ci)


class SkipPolicy:
    """The state of one run: the rules and the skips they refused."""

    def __init__(self):
        self.path = list_path()
        self.rules = read_rules(self.path)
        self.ci = in_ci()
        self.refused = []  # (node id, reason)

    def check(self, report):
        """Record and return whether a skipped ``report`` is refused."""
        if not report.skipped or hasattr(report, "wasxfail"):
            return False
        reason = skip_reason(report)
        if allowed(reason, self.rules, self.ci):
            return False
        self.refused.append((report.nodeid, reason))
        return True

    def message(self, reason):
        rules = "CI: its 'anywhere' rules only" if self.ci else "its anywhere and local rules"
        return (f"refused skip: {reason or '(no reason given)'!r} is not allowed by {self.path} ({rules}); "
                f"make the test run here, or list the reason if no machine of this kind can run it")


_POLICY = []


def _policy():
    if not enforced():
        return None
    if not _POLICY:
        _POLICY.append(SkipPolicy())
    return _POLICY[0]


def pytest_configure(config):
    _POLICY.clear()
    _policy()  # a malformed list fails the run at once


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    policy = _policy()
    if policy is not None and policy.check(report):
        reason = policy.refused[-1][1]
        report.outcome = "failed"
        report.longrepr = policy.message(reason)
        report.user_properties.append(("refused_skip", reason))  # for the pytest-xdist controller
    return report


def pytest_runtest_logreport(report):
    """Under pytest-xdist the workers refuse the skips: the controller lists those of the reports they send."""
    policy = _policy()
    if policy is not None and getattr(report, "node", None) is not None:  # sent by a pytest-xdist worker
        policy.refused += [(report.nodeid, value) for name, value in report.user_properties if name == "refused_skip"]


def pytest_collectreport(report):
    policy = _policy()
    if policy is not None:
        policy.check(report)


def pytest_terminal_summary(terminalreporter):
    policy = _policy()
    if policy is None:
        return
    mode = "CI: anywhere rules" if policy.ci else "local: anywhere and local rules"
    if policy.refused:
        terminalreporter.section("skips not on the allowed list", sep="=", red=True, bold=True)
        for nodeid, reason in policy.refused:
            terminalreporter.line(f"REFUSED SKIP {nodeid}: {reason or '(no reason given)'}")
        terminalreporter.line(f"allowed reasons: {policy.path} ({mode})")
    else:
        terminalreporter.write_line(f"every skip is on {policy.path} ({mode})")


def pytest_sessionfinish(session, exitstatus):
    policy = _policy()
    if policy is not None and policy.refused and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
