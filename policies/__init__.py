"""Policy as data: YAML files in this folder, validated by pydantic models at load time, so a
clinician can review thresholds, patterns, prompts and protocols without reading Python."""

from policies.loader import POLICY_DIR, load_policy

__all__ = ["POLICY_DIR", "load_policy"]
