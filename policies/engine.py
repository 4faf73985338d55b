"""The policy engine: a compiled, versioned policy set that turns signals + context into a decision.

Outcome order (most restrictive wins): takedown > block > review > age_restrict
> label > allow. A rule may waive others with ``overrides`` (an exception, e.g.
"the creator is the cameo owner"); a rule with reason ``sexual_minors`` can
never be waived, by validation and again at evaluation. Shadow rules are
evaluated and recorded but never change the outcome. A rule whose condition
fails at evaluation is recorded on the decision and the decision falls back
to at least ``review`` in the ``policy_errors`` queue: fail safe, never crash.

A :class:`PolicySet` is immutable; its version is a content hash of the parsed
thresholds and rules, so the same policy always has the same version and any
change makes a new one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cel

from policies.errors import PolicyError, PolicyIssue, SignalError, clip_message
from policies.loader import (
    DEFAULT_DIR,
    DEFAULT_MAX_FILE_BYTES,
    check_sizes,
    parse_policy_file,
    read_policy_texts,
)
from policies.refs import ConditionRefs, analyse, apply_edits, flat_name, inline_thresholds
from policies.schema import (
    OUTCOME_RANK,
    UNOVERRIDABLE_REASON,
    ModelThreshold,
    RuleSpec,
    ThresholdSpec,
)
from policies.view import (
    ELEMENT,
    VIEW,
    Use,
    compile_builder,
    derive_minor,
    resolve,
    sample,
    values_at,
)

BUNDLE_FORMAT = "greenroom-policy/1"
ERROR_QUEUE = "policy_errors"
ERROR_PRIORITY = 50
AUDIENCES = ("adult", "teen")
_MISSING = object()


@dataclass
class FiredRule:
    """A rule whose condition was true, with the values it read."""

    id: str
    outcome: str
    reason: str
    severity: str
    values: dict[str, Any]
    queue: str | None = None
    priority: int = 0
    status: str = "active"
    file: str = ""
    overridden_by: str | None = None
    # An account rule's action ({kind, days}); acted on only at the account door.
    account_action: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["account_action"] is None:
            del data["account_action"]  # clip decisions keep their stored shape
        return data


@dataclass
class RuleFailure:
    """A rule whose condition could not be evaluated for this input."""

    id: str
    status: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    """The engine's answer: outcome, the rules behind it, and where a human is needed."""

    outcome: str
    rules: list[FiredRule]
    shadow: list[FiredRule]
    version: str
    queue: str | None = None
    priority: int | None = None
    reasons: list[str] = field(default_factory=list)
    preserve_evidence: bool = False
    overridden: list[FiredRule] = field(default_factory=list)
    errors: list[RuleFailure] = field(default_factory=list)
    # What the outcome would be if the shadow rules were active.
    shadow_outcome: str = "allow"

    @property
    def rule_ids(self) -> list[str]:
        return [r.id for r in self.rules]

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "rules": [r.to_dict() for r in self.rules],
            "shadow": [r.to_dict() for r in self.shadow],
            "version": self.version,
            "queue": self.queue,
            "priority": self.priority,
            "reasons": self.reasons,
            "preserve_evidence": self.preserve_evidence,
            "overridden": [r.to_dict() for r in self.overridden],
            "errors": [e.to_dict() for e in self.errors],
            "shadow_outcome": self.shadow_outcome,
        }


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    file: str
    program: Any  # cel.Program
    refs: ConditionRefs


def _model_value(entry: float | ModelThreshold, audience: str) -> float:
    if isinstance(entry, ModelThreshold):
        return entry.audience.get(audience, entry.value)  # type: ignore[call-overload]
    return float(entry)


def resolve_threshold(spec: ThresholdSpec, audience: str, model: str | None = None) -> float:
    """A threshold for an audience and, where it has its own scale, a model id."""
    if model is not None and model in spec.models:
        return _model_value(spec.models[model], audience)
    return spec.audience.get(audience, spec.value)  # type: ignore[call-overload]


def _flat_prefix(path: tuple[str, ...]) -> tuple[str, ...]:
    """The part of a path before its first list element: what is passed as one variable."""
    return path[: path.index(ELEMENT)] if ELEMENT in path else path


def _topological(rules: list[CompiledRule]) -> tuple[list[str], list[str]]:
    """Rule ids with every overriding rule before the rules it overrides; plus ids on a cycle."""
    targets = {r.spec.id: [t for t in r.spec.overrides] for r in rules}
    order: list[str] = []
    state: dict[str, int] = {}
    cyclic: list[str] = []

    def visit(rule_id: str, stack: list[str]) -> None:
        mark = state.get(rule_id, 0)
        if mark == 2:
            return
        if mark == 1:
            cyclic.extend(stack[stack.index(rule_id) :])
            return
        state[rule_id] = 1
        for target in targets.get(rule_id, []):
            if target in targets:
                visit(target, [*stack, target])
        state[rule_id] = 2
        order.append(rule_id)

    for rule_id in targets:
        visit(rule_id, [rule_id])
    order.reverse()
    return order, cyclic


class PolicySet:
    """A parsed, validated, compiled policy set. Build with :meth:`from_dir`, :meth:`from_texts` or :meth:`from_bundle`."""

    def __init__(
        self,
        name: str,
        texts: Mapping[str, str],
        thresholds: dict[str, ThresholdSpec],
        rules: list[CompiledRule],
    ) -> None:
        self.name = name
        self.texts = dict(texts)
        self.thresholds = thresholds
        self.rules = rules
        self.version = self._content_hash()
        self._local = threading.local()
        self._order, _ = _topological(rules)
        self._by_id = {r.spec.id: r for r in rules}
        self._use = Use()
        needed: set[str] = set()
        flat: set[tuple[str, ...]] = set()
        for rule in rules:
            for path, full in rule.refs.paths.items():
                self._use.add(path, full)
                flat.add(_flat_prefix(path))
            needed |= rule.refs.thresholds
        # Each flat variable: (name, raw path, builder for its node and use subtree).
        self._flat: list[tuple[str, tuple[str, ...], Callable[[Any], Any]]] = []
        for path in sorted(flat):
            use = self._use
            for segment in path:
                use = use.children[segment]
            node = resolve(path)
            shown = ".".join(path)
            self._flat.append((flat_name(path), path, compile_builder(node, use, shown)))
        self._audience = compile_builder(
            resolve(("context", "audience")), Use(), "context.audience"
        )
        self._audience_thresholds = {
            audience: {n: resolve_threshold(thresholds[n], audience) for n in sorted(needed)}
            for audience in AUDIENCES
        }
        self._model_thresholds = {
            audience: {
                n: {
                    "default": resolve_threshold(thresholds[n], audience),
                    **{
                        m: resolve_threshold(thresholds[n], audience, m)
                        for m in thresholds[n].models
                    },
                }
                for n in thresholds
            }
            for audience in AUDIENCES
        }
        # One program per audience with that audience's thresholds written in.
        self._programs: dict[str, list[tuple[CompiledRule, Any]]] = {
            audience: [(rule, self._compile_for(rule, audience)) for rule in rules]
            for audience in AUDIENCES
        }

    def _compile_for(self, rule: CompiledRule, audience: str) -> Any:
        source = inline_thresholds(
            apply_edits(rule.spec.condition, rule.refs.flat_edits),
            {n: resolve_threshold(t, audience) for n, t in self.thresholds.items()},
            self._model_thresholds[audience],
        )
        try:
            return cel.compile(source)
        except Exception as exc:  # a rewrite bug must surface as a located policy error
            raise PolicyError(
                [
                    PolicyIssue(
                        rule.file,
                        rule.spec.id,
                        "condition",
                        clip_message(f"cannot compile the rewritten condition {source!r}: {exc}"),
                    )
                ]
            ) from None

    # --- construction -----------------------------------------------------------------

    @classmethod
    def from_dir(
        cls, path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, name: str | None = None
    ) -> PolicySet:
        """Load every ``*.yaml`` under ``path`` (or one file); raises :class:`PolicyError`."""
        texts, issues = read_policy_texts(path, max_file_bytes=max_file_bytes)
        if issues:
            raise PolicyError(issues)
        return cls.from_texts(texts, name=name or path.name, max_file_bytes=max_file_bytes)

    @classmethod
    def default(cls) -> PolicySet:
        """The shipped default policy set (``policies/default``)."""
        return cls.from_dir(DEFAULT_DIR, name="default")

    @classmethod
    def from_texts(
        cls,
        texts: Mapping[str, str],
        *,
        name: str = "policy",
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> PolicySet:
        """Parse, validate and compile policy file texts (file name -> YAML)."""
        issues = check_sizes(texts, max_file_bytes)
        if issues:
            raise PolicyError(issues)
        if not texts:
            raise PolicyError([PolicyIssue("", "", "", "a policy set needs at least one file")])
        thresholds: dict[str, ThresholdSpec] = {}
        threshold_files: dict[str, str] = {}
        specs: list[tuple[str, RuleSpec]] = []
        for file in sorted(texts):
            spec, found = parse_policy_file(texts[file], file)
            issues += found
            if spec is None:
                continue
            for tname, tspec in spec.thresholds.items():
                if tname in thresholds:
                    issues.append(
                        PolicyIssue(
                            file,
                            "",
                            f"thresholds.{tname}",
                            f"threshold already defined in {threshold_files[tname]}",
                        )
                    )
                    continue
                issues += _check_threshold(file, tname, tspec)
                thresholds[tname] = tspec
                threshold_files[tname] = file
            specs += [(file, rule) for rule in spec.rules]
        rules = _compile_rules(specs, set(thresholds), issues)
        # Type-check the rules that compiled even when others failed: report everything at once.
        policy = cls(name, texts, thresholds, rules)
        issues += policy._check_samples()
        if issues:
            raise PolicyError(issues)
        return policy

    @classmethod
    def from_bundle(
        cls, bundle: Mapping[str, Any], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> PolicySet:
        """Rebuild from :meth:`to_bundle`; a stated version that does not match the content is an error."""
        if bundle.get("format") != BUNDLE_FORMAT:
            raise PolicyError([PolicyIssue("", "", "format", f"not a {BUNDLE_FORMAT} bundle")])
        files = bundle.get("files")
        if not isinstance(files, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise PolicyError(
                [PolicyIssue("", "", "files", "files must map file names to YAML text")]
            )
        policy = cls.from_texts(
            files, name=str(bundle.get("name") or "policy"), max_file_bytes=max_file_bytes
        )
        stated = bundle.get("version")
        if stated is not None and stated != policy.version:
            raise PolicyError(
                [
                    PolicyIssue(
                        "",
                        "",
                        "version",
                        f"bundle says version {stated} but its content hashes to {policy.version}",
                    )
                ]
            )
        return policy

    def to_bundle(self) -> dict[str, Any]:
        """A JSON-able snapshot (file texts kept verbatim, comments included) for the store."""
        return {
            "format": BUNDLE_FORMAT,
            "name": self.name,
            "version": self.version,
            "files": dict(sorted(self.texts.items())),
        }

    def _content_hash(self) -> str:
        canonical = {
            "thresholds": {
                k: v.model_dump(mode="json") for k, v in sorted(self.thresholds.items())
            },
            "rules": sorted(
                (r.spec.model_dump(mode="json") for r in self.rules), key=lambda d: d["id"]
            ),
        }
        blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def _check_samples(self) -> list[PolicyIssue]:
        """Run every condition on typed samples: catches type errors the binding only finds at run time."""
        full = [sample(VIEW, variant) for variant in (0, 1)]
        inputs = [({}, {})] + [
            ({k: v for k, v in s.items() if k != "context"}, s["context"]) for s in full
        ]
        issues: list[PolicyIssue] = []
        for index, rule in enumerate(self.rules):
            for signals, context in inputs:
                for audience in AUDIENCES:
                    variables = self._variables(signals, {**context, "audience": audience})
                    program = self._programs[audience][index][1]
                    try:
                        result = program.execute(cel.Context(variables=variables))
                    except Exception as exc:  # the binding raises several types
                        message = f"type error: {type(exc).__name__}: {exc}"
                    else:
                        if isinstance(result, bool):
                            continue
                        message = f"condition must be true or false, not {type(result).__name__}"
                    issues.append(
                        PolicyIssue(rule.file, rule.spec.id, "condition", clip_message(message))
                    )
                    break
                else:
                    continue
                break
        return issues

    # --- thresholds -------------------------------------------------------------------

    def threshold(self, name: str, audience: str = "adult", model: str | None = None) -> float:
        """The value a condition sees for ``thresholds.name`` / ``threshold(name, model)``."""
        if name not in self.thresholds:
            raise KeyError(f"unknown threshold {name!r}")
        return resolve_threshold(self.thresholds[name], audience, model)

    # --- evaluation -----------------------------------------------------------------------

    def _variables(self, signals: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """The CEL variables for one decision (flat paths, typed and defaulted), plus ``_audience``."""
        if not isinstance(signals, Mapping):
            raise SignalError("signals must be an object")
        if not isinstance(context, Mapping):
            raise SignalError("context must be an object")
        variables: dict[str, Any] = {}
        for name, path, builder in self._flat:
            root = path[0]
            if root == "context":
                raw: Any = context
            else:
                raw = signals.get(root)
                if root == "minor":
                    raw = derive_minor(raw)
            for depth, segment in enumerate(path[1:], start=1):
                if raw is None:
                    break
                if type(raw) is not dict and not isinstance(raw, Mapping):
                    where = ".".join(path[:depth])
                    raise SignalError(f"{where}: expected an object, got {type(raw).__name__}")
                raw = raw.get(segment)
            variables[name] = builder(raw)
        return variables

    def _cel_context(self, variables: dict[str, Any]) -> Any:
        """A CEL context holding ``variables``, converting only values that changed since last time.

        Converting Python values into the binding costs about a microsecond
        each and dominates evaluation; consecutive decisions share most values
        (defaults, the same stage), so each thread keeps its context and
        updates only what differs. Values of one variable always have one type
        (the builders coerce), so ``!=`` is a safe change test.
        """
        state = getattr(self._local, "state", None)
        if state is None:
            ctx = cel.Context(variables=variables)
            self._local.state = (ctx, dict(variables))
            return ctx
        ctx, last = state
        changed = {k: v for k, v in variables.items() if last.get(k, _MISSING) != v}
        if changed:
            ctx.update(changed)
            last.update(changed)
        return ctx

    def evaluate(
        self, signals: Mapping[str, Any], context: Mapping[str, Any], *, strict: bool = False
    ) -> Decision:
        """Decide. Malformed signals raise :class:`SignalError` when ``strict``, else decide ``review``."""
        try:
            variables = self._variables(signals, context)
            audience = self._audience(context.get("audience"))
        except SignalError as exc:
            if strict:
                raise
            return self._fallback(str(exc))
        ctx = self._cel_context(variables)
        fired: list[FiredRule] = []
        shadow: list[FiredRule] = []
        failures: list[RuleFailure] = []
        for rule, program in self._programs[audience]:
            spec = rule.spec
            try:
                result = program.execute(ctx)
            except Exception as exc:  # one rule's failure must not stop the others
                failures.append(RuleFailure(spec.id, spec.status, clip_message(str(exc))))
                continue
            if result is not True:
                if result is not False:
                    failures.append(
                        RuleFailure(spec.id, spec.status, f"condition returned {result!r}")
                    )
                continue
            hit = FiredRule(
                spec.id,
                spec.outcome,
                spec.reason,
                spec.severity,
                self._values(rule, variables, audience),
                spec.queue,
                spec.priority,
                spec.status,
                rule.file,
                account_action=spec.account_action.model_dump() if spec.account_action else None,
            )
            (fired if spec.status == "active" else shadow).append(hit)
        active_failures = [f for f in failures if f.status == "active"]
        decision = self._combine(fired, active_failures)
        decision.shadow = shadow
        decision.errors = failures
        decision.shadow_outcome = (
            self._combine(fired + shadow, active_failures).outcome if shadow else decision.outcome
        )
        return decision

    def _values(
        self, rule: CompiledRule, variables: dict[str, Any], audience: str
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        refs = rule.refs
        for shown, path in refs.value_paths():
            prefix = _flat_prefix(path)
            values[shown] = values_at(variables.get(flat_name(prefix)), path[len(prefix) :])
        for name in sorted(refs.thresholds):
            values[f"thresholds.{name}"] = self._audience_thresholds[audience][name]
        if refs.model_thresholds:
            per_model = self._model_thresholds[audience]
            for name in sorted(refs.model_thresholds):
                values[f"threshold({name})"] = per_model[name]
        return values

    def _combine(self, fired: list[FiredRule], failures: list[RuleFailure]) -> Decision:
        by_id = {r.id: r for r in fired}
        waived: dict[str, str] = {}
        if len(fired) > 1:
            for rule_id in self._order:
                hit = by_id.get(rule_id)
                if hit is None or rule_id in waived:
                    continue
                for target in self._by_id[rule_id].spec.overrides:
                    victim = by_id.get(target)
                    # Checked at validation too; this keeps the guarantee local.
                    if victim is not None and victim.reason != UNOVERRIDABLE_REASON:
                        waived.setdefault(target, rule_id)
        effective = [r for r in fired if r.id not in waived]
        # Copies: the same FiredRule objects are combined again for the shadow outcome.
        overridden = [replace(r, overridden_by=waived[r.id]) for r in fired if r.id in waived]
        outcome = "allow"
        for r in effective:
            if OUTCOME_RANK[r.outcome] > OUTCOME_RANK[outcome]:
                outcome = r.outcome
        queue: str | None = None
        priority: int | None = None
        queued = [r for r in effective if r.queue]
        critical = [r for r in queued if r.reason == UNOVERRIDABLE_REASON]
        if critical or queued:
            best = max(critical or queued, key=lambda r: (r.priority, OUTCOME_RANK[r.outcome]))
            queue, priority = best.queue, best.priority
        if failures:
            if OUTCOME_RANK[outcome] < OUTCOME_RANK["review"]:
                outcome = "review"
            if queue is None:
                queue, priority = ERROR_QUEUE, ERROR_PRIORITY
        reasons = list(dict.fromkeys(r.reason for r in effective))
        return Decision(
            outcome=outcome,
            rules=effective,
            shadow=[],
            version=self.version,
            queue=queue,
            priority=priority,
            reasons=reasons,
            preserve_evidence=any(self._by_id[r.id].spec.preserve_evidence for r in effective),
            overridden=overridden,
        )

    def _fallback(self, message: str) -> Decision:
        failure = RuleFailure("(signals)", "active", clip_message(f"invalid signals: {message}"))
        return Decision(
            outcome="review",
            rules=[],
            shadow=[],
            version=self.version,
            queue=ERROR_QUEUE,
            priority=ERROR_PRIORITY,
            errors=[failure],
            shadow_outcome="review",
        )


def _check_threshold(file: str, name: str, spec: ThresholdSpec) -> list[PolicyIssue]:
    from policies.schema import NAME_PATTERN

    issues: list[PolicyIssue] = []
    where = f"thresholds.{name}"
    if not NAME_PATTERN.match(name):
        issues.append(PolicyIssue(file, "", where, "threshold names are lower_snake_case"))

    def looser(teen: float, adult: float) -> bool:
        return teen > adult if spec.stricter == "lower" else teen < adult

    adult = spec.audience.get("adult", spec.value)
    teen = spec.audience.get("teen")
    if teen is not None and looser(teen, adult):
        issues.append(
            PolicyIssue(
                file,
                "",
                f"{where}.audience.teen",
                f"teen value {teen} is looser than the adult value {adult} "
                f"(stricter is {spec.stricter})",
            )
        )
    for model, entry in spec.models.items():
        if isinstance(entry, ModelThreshold):
            m_adult = entry.audience.get("adult", entry.value)
            m_teen = entry.audience.get("teen")
            if m_teen is not None and looser(m_teen, m_adult):
                issues.append(
                    PolicyIssue(
                        file,
                        "",
                        f"{where}.models.{model}.audience.teen",
                        f"teen value {m_teen} is looser than the adult value {m_adult}",
                    )
                )
    return issues


def _compile_rules(
    specs: list[tuple[str, RuleSpec]], threshold_names: set[str], issues: list[PolicyIssue]
) -> list[CompiledRule]:
    rules: list[CompiledRule] = []
    seen: dict[str, str] = {}
    for file, spec in specs:
        if spec.id in seen:
            issues.append(
                PolicyIssue(file, spec.id, "id", f"duplicate rule id (also in {seen[spec.id]})")
            )
            continue
        seen[spec.id] = file
        if spec.outcome == "review" and not spec.queue:
            issues.append(PolicyIssue(file, spec.id, "queue", "a review rule needs a queue"))
        try:
            program = cel.compile(spec.condition)
        except Exception as exc:  # the binding reports syntax errors as ValueError
            issues.append(
                PolicyIssue(file, spec.id, "condition", clip_message(f"CEL syntax error: {exc}"))
            )
            continue
        refs = analyse(spec.condition, threshold_names)
        for message in refs.errors:
            issues.append(PolicyIssue(file, spec.id, "condition", clip_message(message)))
        if refs.errors:
            continue
        rules.append(CompiledRule(spec, file, program, refs))
    by_id = {r.spec.id: r for r in rules}
    same_condition: dict[tuple[str, str], CompiledRule] = {}
    for rule in rules:
        key = (" ".join(rule.spec.condition.split()), rule.spec.status)
        twin = same_condition.setdefault(key, rule)
        if twin is not rule:
            issues.append(
                PolicyIssue(
                    rule.file,
                    rule.spec.id,
                    "condition",
                    f"conflicts with rule {twin.spec.id!r}: same condition; merge them into one rule",
                )
            )
    for rule in rules:
        for target in rule.spec.overrides:
            victim = by_id.get(target)
            if target == rule.spec.id:
                issues.append(
                    PolicyIssue(
                        rule.file, rule.spec.id, "overrides", "a rule cannot override itself"
                    )
                )
            elif victim is None and target not in seen:
                issues.append(
                    PolicyIssue(rule.file, rule.spec.id, "overrides", f"unknown rule {target!r}")
                )
            elif victim is not None and victim.spec.reason == UNOVERRIDABLE_REASON:
                issues.append(
                    PolicyIssue(
                        rule.file,
                        rule.spec.id,
                        "overrides",
                        f"rule {target!r} has reason {UNOVERRIDABLE_REASON} and can never be overridden",
                    )
                )
    _, cyclic = _topological(rules)
    if cyclic:
        first = by_id[cyclic[0]]
        issues.append(
            PolicyIssue(
                first.file,
                first.spec.id,
                "overrides",
                "overrides form a cycle: " + " -> ".join([*cyclic, cyclic[0]]),
            )
        )
    return rules


def validate_texts(
    texts: Mapping[str, str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[PolicyIssue]:
    """Every issue in a set of policy file texts (empty when valid): for an API "validate" route."""
    try:
        PolicySet.from_texts(texts, max_file_bytes=max_file_bytes)
    except PolicyError as exc:
        return exc.issues
    return []
