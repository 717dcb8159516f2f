"""Small in-process plugins used by the spine tests (registered with ``host.add_plugin``)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plurieval.hookspecs import hookimpl
from plurieval.specs import BenchmarkSpec, MethodSpec, MetricSpec


class AlphaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = 4.0
    mode: Literal["add", "ablate"] = "add"
    layers: list[int] = Field(default_factory=lambda: [3])


class PluginA:
    @hookimpl
    def register_methods(self, register):
        register(MethodSpec(name="shared-method", factory="builtins:dict", config=AlphaConfig))
        register(MethodSpec(name="only-in-a", factory="builtins:dict", config=AlphaConfig))

    @hookimpl
    def register_metrics(self, register):
        register(MetricSpec(name="kl_divergence_test", factory="builtins:dict"))
        register(MetricSpec(name="js_distance_test", factory="builtins:dict"))

    @hookimpl
    def register_benchmarks(self, register):
        register(BenchmarkSpec(name="bench-a", factory="builtins:dict", method_kinds=("steering",)))


class PluginB:
    @hookimpl
    def register_methods(self, register):
        register(MethodSpec(name="shared-method", factory="builtins:dict", config=AlphaConfig))


class Broken:
    @hookimpl
    def register_methods(self, register):
        register(MethodSpec(name="half-registered", factory="builtins:dict"))
        raise RuntimeError("boom in register_methods")


class SelfDuplicate:
    @hookimpl
    def register_metrics(self, register):
        register(MetricSpec(name="twice", factory="builtins:dict"))
        register(MetricSpec(name="twice", factory="builtins:dict"))
