"""Reading policy files safely: size caps, YAML without aliases or tags, errors with file and line.

Turns files on disk (or texts from the store) into validated
:class:`PolicyFileSpec` objects plus a list of :class:`PolicyIssue`; compiling
the rules is ``engine.py``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.errors import PolicyError, PolicyIssue, clip_message
from policies.schema import PolicyFileSpec, RuleSpec

DEFAULT_MAX_FILE_BYTES = 512 * 1024
MAX_FILES = 200
POLICY_SUFFIXES = (".yaml", ".yml")
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_TESTS_DIR = Path(__file__).resolve().parent / "tests"


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: a few bytes of anchors can expand into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem="YAML aliases (*name) are not allowed in policy files",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def parse_yaml(text: str, file: str) -> tuple[Any, list[PolicyIssue]]:
    """Parse one YAML document; a syntax error becomes an issue with its line and column."""
    try:
        return yaml.load(text, Loader=_SafeLoader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "malformed YAML"
        return None, [PolicyIssue(file, "", "", clip_message(f"malformed YAML: {where}{problem}"))]
    except yaml.YAMLError as exc:
        return None, [PolicyIssue(file, "", "", clip_message(f"malformed YAML: {exc}"))]
    except RecursionError:
        return None, [PolicyIssue(file, "", "", "malformed YAML: nested too deeply")]


def _issue_for(file: str, raw: Any, loc: tuple[Any, ...], message: str) -> PolicyIssue:
    rule = ""
    field_parts = [str(part) for part in loc]
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") if isinstance(raw, Mapping) else None
        entry = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        rule_id = entry.get("id") if isinstance(entry, Mapping) else None
        rule = str(rule_id) if isinstance(rule_id, str) and rule_id else f"#{loc[1] + 1}"
        field_parts = [str(part) for part in loc[2:]]
    return PolicyIssue(file, rule, ".".join(field_parts), clip_message(message))


def parse_policy_file(text: str, file: str) -> tuple[PolicyFileSpec | None, list[PolicyIssue]]:
    """One file's text -> its validated spec, or the issues that stop it."""
    raw, issues = parse_yaml(text, file)
    if issues:
        return None, issues
    if raw is None:
        return PolicyFileSpec(), []
    if not isinstance(raw, Mapping):
        return None, [
            PolicyIssue(file, "", "", "a policy file must be a mapping with thresholds and rules")
        ]
    # Rules are validated one by one so one bad rule does not hide the others' problems.
    rules_raw = raw.get("rules", [])
    if rules_raw is None:
        rules_raw = []
    if not isinstance(rules_raw, list):
        return None, [PolicyIssue(file, "", "rules", "rules must be a list")]
    found: list[PolicyIssue] = []
    try:
        spec = PolicyFileSpec.model_validate({**raw, "rules": []})
    except ValidationError as exc:
        found += _issues(file, raw, exc, ())
        spec = None
    rules: list[RuleSpec] = []
    for index, entry in enumerate(rules_raw):
        try:
            rules.append(RuleSpec.model_validate(entry))
        except ValidationError as exc:
            found += _issues(file, raw, exc, ("rules", index))
    if spec is None:
        return None, found
    return spec.model_copy(update={"rules": rules}), found


def _issues(
    file: str, raw: Any, exc: ValidationError, prefix: tuple[Any, ...]
) -> list[PolicyIssue]:
    found = []
    for error in exc.errors():
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (not part of the policy schema)"
        found.append(_issue_for(file, raw, (*prefix, *error["loc"]), message))
    return found


def read_policy_texts(
    path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[dict[str, str], list[PolicyIssue]]:
    """The policy files under ``path`` (a directory or one file) as name -> text, with size checks."""
    if not path.exists():
        raise FileNotFoundError(2, "no such file or directory", str(path))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())
        if not files:
            return {}, [
                PolicyIssue(str(path), "", "", "no policy files (*.yaml) in this directory")
            ]
        if len(files) > MAX_FILES:
            return {}, [
                PolicyIssue(str(path), "", "", f"{len(files)} files; at most {MAX_FILES} allowed")
            ]
    else:
        files = [path]
    texts: dict[str, str] = {}
    issues: list[PolicyIssue] = []
    for file in files:
        size = file.stat().st_size
        if size > max_file_bytes:
            issues.append(
                PolicyIssue(
                    file.name, "", "", f"file is {size} bytes; the limit is {max_file_bytes} bytes"
                )
            )
            continue
        try:
            texts[file.name] = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            issues.append(PolicyIssue(file.name, "", "", f"not UTF-8 text: {exc.reason}"))
    return texts, issues


def check_sizes(texts: Mapping[str, str], max_file_bytes: int) -> list[PolicyIssue]:
    return [
        PolicyIssue(
            name, "", "", f"file is {len(text.encode())} bytes; the limit is {max_file_bytes} bytes"
        )
        for name, text in texts.items()
        if len(text.encode()) > max_file_bytes
    ]


def raise_if(issues: list[PolicyIssue]) -> None:
    if issues:
        raise PolicyError(issues)
