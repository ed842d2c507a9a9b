"""Chaos monkey's choice: one seeded, reproducible victim instance of the architecture's victim service."""

from __future__ import annotations

import random

from nanoservices.plan import DeploymentPlan, InstanceSpec


def pick_victim(plan: DeploymentPlan, seed: int) -> InstanceSpec | None:
    candidates = sorted((s for s in plan.instances if s.service == plan.victim), key=lambda s: s.name)
    if not plan.victim or not candidates:
        return None
    return random.Random(f"{seed}:chaos-monkey").choice(candidates)
