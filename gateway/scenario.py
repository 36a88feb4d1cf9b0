"""Scenario files for ``accord simulate``: a YAML script of what each person does, validated before
anything runs.

```yaml
mode: couple                  # or workplace
parties: [alex, sam]          # the first one starts the session alone
facilitators: [dana]          # optional, workplace only: joins with the facilitator code
steps:
  - {party: alex, say: "You never listen to me."}
  - {party: alex, share: latest}                 # approve the newest pending draft as is
  - {party: alex, share: latest, edit: "..."}    # approve it with changes
  - {party: alex, discard: latest}
  - {invite: sam}                                # sam accepts the invite and joins
  - {party: sam, intake: skip}                   # or {party: sam, intake: {question_id: false, ...}}
  - {party: sam, pause: true}
  - {advance: 1200}                              # move the manual clock (seconds)
  - {party: sam, ready: true}
  - {party: alex, agree: latest}                 # add `accept: false` to decline
  - {party: alex, close: true}
```

Intake: a party skips the intake questions automatically when they join, unless the scenario has
an ``intake`` step for them (then that step answers or skips them).

Every step is one member of a pydantic union chosen by its action key; a malformed file raises
:class:`ScenarioError` naming the file and the line of the offending step (from the YAML node marks),
and nothing runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.models import Mode

#: The action keys, in the order error messages list them.
ACTIONS: tuple[str, ...] = (
    "say",
    "share",
    "discard",
    "invite",
    "pause",
    "advance",
    "ready",
    "agree",
    "intake",
    "close",
)
MAX_ADVANCE_SECONDS = 7 * 24 * 3600  # a week: longer than any break a protocol allows


class ScenarioError(Exception):
    """A scenario that cannot run: ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, message: str, *, line: int | None = None, source: str = "<scenario>") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.source = source

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


Name = Annotated[str, Field(min_length=1, max_length=40)]


def _clean_name(value: str) -> str:
    if " ".join(value.split()) != value:
        raise ValueError("a name has no leading, trailing or repeated spaces")
    return value


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _line: int = PrivateAttr(0)

    @property
    def line(self) -> int:
        """Line of this step in its file (1-based; 0 when built in code)."""
        return self._line

    @property
    def action(self) -> str:
        """The step's action key (``say``, ``share``, ...)."""
        return next(key for key in ACTIONS if key in type(self).model_fields)


class SayStep(_Step):
    """The party writes in their private room."""

    party: Name
    say: str = Field(min_length=1)


class ShareStep(_Step):
    """The party approves their newest pending draft, as is or with ``edit``'s words."""

    party: Name
    share: Literal["latest"]
    edit: str | None = Field(None, min_length=1)


class DiscardStep(_Step):
    """The party discards their newest pending draft."""

    party: Name
    discard: Literal["latest"]


class InviteStep(_Step):
    """A party (or a facilitator) accepts the invite and joins."""

    invite: Name


class PauseStep(_Step):
    """The party starts the agreed break."""

    party: Name
    pause: Literal[True]


class AdvanceStep(_Step):
    """Move the server's manual clock forward (in-process server only) and apply due timeouts."""

    advance: float = Field(gt=0, le=MAX_ADVANCE_SECONDS)


class ReadyStep(_Step):
    """The party says they are ready for the joint room."""

    party: Name
    ready: Literal[True]


class AgreeStep(_Step):
    """The party accepts (or, with ``accept: false``, declines) the newest proposed agreement."""

    party: Name
    agree: Literal["latest"]
    accept: bool = True


class IntakeStep(_Step):
    """The party's intake: ``skip``, or answers by question id (true / false / null to skip one)."""

    party: Name
    intake: Literal["skip"] | dict[str, bool | None]


class CloseStep(_Step):
    """The party ends the session for everyone."""

    party: Name
    close: Literal[True]


def _action_of(value: Any) -> str | None:
    """The tag of a raw step: its single action key, or None when it has none or several."""
    if isinstance(value, dict):
        found = [key for key in ACTIONS if key in value]
        return found[0] if len(found) == 1 else None
    if isinstance(value, _Step):
        return value.action
    return None


Step = Annotated[
    Annotated[SayStep, Tag("say")]
    | Annotated[ShareStep, Tag("share")]
    | Annotated[DiscardStep, Tag("discard")]
    | Annotated[InviteStep, Tag("invite")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[AdvanceStep, Tag("advance")]
    | Annotated[ReadyStep, Tag("ready")]
    | Annotated[AgreeStep, Tag("agree")]
    | Annotated[IntakeStep, Tag("intake")]
    | Annotated[CloseStep, Tag("close")],
    Discriminator(
        _action_of,
        custom_error_type="step_action",
        custom_error_message="a step needs exactly one action",
    ),
]


class Scenario(BaseModel):
    """A whole scenario file."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode
    parties: list[Name] = Field(min_length=1, max_length=2)
    facilitators: list[Name] = Field(default_factory=list, max_length=2)
    description: str | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("parties", "facilitators")
    @classmethod
    def _clean_names(cls, names: list[str]) -> list[str]:
        return [_clean_name(n) for n in names]

    @model_validator(mode="after")
    def _distinct_people(self) -> Scenario:
        everyone = [n.casefold() for n in self.parties + self.facilitators]
        if len(set(everyone)) != len(everyone):
            raise ValueError("every party and facilitator needs a different name")
        if self.facilitators and self.mode is not Mode.WORKPLACE:
            raise ValueError("facilitators join workplace sessions only")
        return self

    @property
    def initiator(self) -> str:
        """The party who starts the session alone."""
        return self.parties[0]

    def has_intake_step(self, name: str) -> bool:
        """Whether the scenario answers ``name``'s intake itself (else it is skipped on joining)."""
        return any(isinstance(s, IntakeStep) and s.party == name for s in self.steps)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises :class:`ScenarioError` with the line at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the scenario: {exc}", source=str(path)) from None
    return parse_scenario(text, source=str(path))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text. Errors carry the 1-based line of the step (or key) at fault."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ScenarioError("the scenario is empty", line=1, source=source)
        _refuse_duplicate_keys(root, source)
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            f"not valid YAML: {problem}", line=mark.line + 1 if mark else None, source=source
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioError(
            "a scenario is a mapping with mode, parties and steps",
            line=root.start_mark.line + 1,
            source=source,
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = _strip_tag(err["loc"])
        node = _node_at(root, loc)
        raise ScenarioError(_describe(err, loc), line=node.start_mark.line + 1, source=source) from None
    steps_node = _child(root, "steps")
    for index, step in enumerate(scenario.steps):
        step_node = _child(steps_node, index) if steps_node is not None else None
        step._line = step_node.start_mark.line + 1 if step_node is not None else 0
    problem = check_story(scenario)
    if problem is not None:
        bad, message = problem
        index = next(i for i, s in enumerate(scenario.steps) if s is bad)
        raise ScenarioError(f"step {index + 1}: {message}", line=bad.line, source=source)
    return scenario


def check_story(scenario: Scenario) -> tuple[_Step, str] | None:
    """Checks across steps that the schema cannot express: who is present, what can exist yet.

    Returns the first offending step and why, or None.
    """
    known = {*scenario.parties, *scenario.facilitators}
    joined = {scenario.initiator}
    said: set[str] = set()
    shared = False
    intake_steps: set[str] = set()
    closed = False
    for step in scenario.steps:
        if closed:
            return step, "the session was closed by an earlier step; nothing can follow a close"
        party = getattr(step, "party", None)
        if party is not None:
            if party not in known:
                return step, f"unknown party {party!r}; the parties are {_names(scenario.parties)}"
            if party in scenario.facilitators:
                return step, f"{party} is a facilitator: facilitators see outcomes only and cannot act"
            if party not in joined:
                return step, f"{party} has not joined yet: add {{invite: {party}}} before this step"
        if isinstance(step, InviteStep):
            if step.invite not in known:
                return step, f"unknown party {step.invite!r}; the parties are {_names(scenario.parties)}"
            if step.invite == scenario.initiator:
                return step, f"{step.invite} started the session; only the others are invited"
            if step.invite in joined:
                return step, f"{step.invite} has already joined"
            joined.add(step.invite)
        elif isinstance(step, SayStep):
            said.add(step.party)
        elif isinstance(step, ShareStep | DiscardStep):
            if step.party not in said:
                return step, (
                    f"{step.party} has no draft yet: drafts come from the coach's replies to "
                    f"{step.party}'s own say steps"
                )
            if isinstance(step, ShareStep):
                shared = True
        elif isinstance(step, AgreeStep) and not shared:
            return step, "no agreement can exist yet: agreements are proposed from shared messages"
        elif isinstance(step, IntakeStep):
            if step.party in intake_steps:
                return step, f"{step.party} already has an intake step"
            intake_steps.add(step.party)
        elif isinstance(step, CloseStep):
            closed = True
    return None


# --- YAML node helpers ------------------------------------------------------------------------------
def _refuse_duplicate_keys(node: yaml.Node, source: str) -> None:
    """YAML silently keeps the last of two equal keys; a scenario with one is almost surely a typo."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise ScenarioError(
                        f"the key {key.value!r} appears twice", line=key.start_mark.line + 1, source=source
                    )
                seen.add(key.value)
            _refuse_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, source)


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


def _strip_tag(loc: tuple[str | int, ...]) -> list[str | int]:
    """Pydantic puts the union tag in a step's error location (steps, 3, say, party): drop it."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "steps" and parts[2] in ACTIONS:
        del parts[2]
    return parts


def _node_at(root: yaml.Node, loc: list[str | int]) -> yaml.Node:
    """The deepest node along an error location; a scalar is located by its key's line (in block
    style a long value may start on a later line), a missing key by its mapping."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        if isinstance(child, yaml.ScalarNode) and isinstance(node, yaml.MappingNode):
            return next(k for k, v in node.value if v is child)
        node = child
    return node


def _describe(err: Any, loc: list[str | int]) -> str:
    """One pydantic error in the words of a scenario author."""
    where = _where(loc)
    kind = err["type"]
    if kind == "step_action":
        raw = err.get("input")
        if isinstance(raw, dict):
            found = [k for k in ACTIONS if k in raw]
            if len(found) > 1:
                return f"{where}: a step does one thing; this one has {' and '.join(found)}"
            unknown = [str(k) for k in raw if k not in ("party", "edit", "accept")]
            if unknown:
                return (
                    f"{where}: unknown step {', '.join(map(repr, unknown))}; a step is one of "
                    f"{', '.join(ACTIONS)}"
                )
        return f"{where}: a step needs exactly one action: {', '.join(ACTIONS)}"
    if kind == "extra_forbidden":
        return f"{_where(loc[:-1])}: unknown key {loc[-1]!r}"
    if kind == "missing":
        return f"{_where(loc[:-1])}: {loc[-1]!r} is required"
    if kind == "enum" and loc == ["mode"]:
        return "mode: use 'couple' or 'workplace'"
    if kind == "literal_error" and loc and loc[-1] in ("share", "discard", "agree"):
        return f"{where}: use 'latest' (the newest one this party has seen)"
    return f"{where}: {err['msg']}"


def _where(loc: list[str | int]) -> str:
    parts: list[str] = []
    for p in loc:
        parts.append(f"step {p + 1}" if isinstance(p, int) and parts[-1:] == ["steps"] else str(p))
    if parts[:1] == ["steps"] and len(parts) > 1:
        parts = parts[1:]
    return " ".join(parts) or "scenario"


def _names(names: list[str]) -> str:
    return ", ".join(names)


__all__ = [
    "ACTIONS",
    "AdvanceStep",
    "AgreeStep",
    "CloseStep",
    "DiscardStep",
    "IntakeStep",
    "InviteStep",
    "PauseStep",
    "ReadyStep",
    "SayStep",
    "Scenario",
    "ScenarioError",
    "ShareStep",
    "Step",
    "check_story",
    "load_scenario",
    "parse_scenario",
]
