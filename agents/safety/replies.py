"""The private safety reply a writer gets when the screener flags their message.

Assembled from the wording in ``policies/safety.yaml`` (one opening, one body, one closing, picked
by ``variant_seed`` so someone who writes several times is not answered with the same script),
with crisis resources for the verdict's categories in the reader's locale. It never quotes the
message and never mentions the other party. ``ai_manipulation`` gets a kind answer that gives
nothing away and no crisis numbers; workplace harassment gets the formal route.
"""

from __future__ import annotations

import random
import zlib

from orchestrator.events import Resource
from orchestrator.models import Severity, Verdict
from policies.safety import LocaleResources, ReplyVariants, SafetyPolicy, safety_policy

SCREEN_ERROR = "screen_error"


def reply_key(verdict: Verdict, policy: SafetyPolicy) -> str:
    """Which reply fits ``verdict``: the screen-error reply, the highest-priority category's reply
    (``<reply>_<severity>`` when the policy has one), or the gentle ``concern`` reply."""
    if verdict.layer == "error" or SCREEN_ERROR in verdict.categories:
        return SCREEN_ERROR
    for category in policy.reply_priority:
        if category in verdict.categories:
            base = policy.categories[category].reply
            specific = f"{base}_{verdict.severity.value}"
            return specific if specific in policy.replies else base
    return "concern"


def resolve_locale(locale: str, policy: SafetyPolicy) -> LocaleResources:
    """``en_gb`` -> ``en-GB``; an unknown region falls back to its language, then ``default``."""
    wanted = locale.replace("_", "-").strip().lower()
    by_lower = {name.lower(): entry for name, entry in policy.resources.items()}
    if wanted in by_lower:
        return by_lower[wanted]
    language = wanted.split("-")[0]
    return by_lower.get(language) or policy.resources["default"]


def resources_for(
    verdict: Verdict, locale: str = "default", policy: SafetyPolicy | None = None, emergency: bool = True
) -> list[Resource]:
    """Resources for the verdict's categories (and emergency numbers when high or critical)."""
    policy = policy or safety_policy()
    entries = resolve_locale(locale, policy).resources
    wanted = set(verdict.categories)
    urgent = emergency and (verdict.severity.rank >= Severity.HIGH.rank or verdict.layer == "error")
    chosen = [r for r in entries if r.categories and wanted.intersection(r.categories)]
    chosen += [r for r in entries if not r.categories and not r.always]
    if urgent or not chosen:
        chosen += [r for r in entries if r.always]
    seen: set[str] = set()
    out: list[Resource] = []
    for r in chosen:
        if r.name not in seen:
            seen.add(r.name)
            out.append(Resource(name=r.name, contact=r.contact, note=r.note))
    return out


def _pick(variants: ReplyVariants, key: str, seed: int) -> str:
    # seeded per reply kind, so the same seed gives different combinations for different replies
    rng = random.Random(zlib.crc32(key.encode()) ^ (seed * 2654435761 & 0xFFFFFFFF))
    return " ".join(
        [rng.choice(variants.openings), rng.choice(variants.bodies), rng.choice(variants.closings)]
    )


def safety_reply(
    verdict: Verdict, locale: str = "default", variant_seed: int = 0
) -> tuple[str, list[Resource]]:
    """The writer's private reply and the resources shown with it."""
    policy = safety_policy()
    key = reply_key(verdict, policy)
    variants = policy.replies[key]
    text = _pick(variants, key, variant_seed)
    resources = resources_for(verdict, locale, policy, variants.emergency) if variants.resources else []
    return text, resources
