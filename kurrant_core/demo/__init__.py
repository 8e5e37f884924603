"""A generated Kurrant world for demos, tests and benchmarks (no production access needed).

``generate_demo_world(engine, scale, seed)`` fills the raw mirror tables deterministically; the
latent tastes it drew are kept in ``demo__user_taste`` so tests can check that models recover them.
"""
from kurrant_core.demo.scales import SCALES, DemoScale, get_scale
from kurrant_core.demo.world import WORLD_TABLES, build_world, generate_demo_world

__all__ = ["SCALES", "DemoScale", "WORLD_TABLES", "build_world", "generate_demo_world", "get_scale"]
