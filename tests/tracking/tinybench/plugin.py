"""Hook implementations of the test plugin (import-light)."""

from plurieval.hookspecs import hookimpl
from plurieval.specs import BenchmarkSpec, MetricSpec, ModelSpec, NoConfig

from .config import TinyEchoConfig, TinyModelConfig


@hookimpl
def register_models(register):
    register(ModelSpec(name="tiny-test", factory="tinybench.impl:make_model", config=TinyModelConfig,
                       description="random tiny transformers model (tests only)"))


@hookimpl
def register_metrics(register):
    register(MetricSpec(name="byte-diversity", factory="tinybench.impl:ByteDiversity", config=NoConfig,
                        description="distinct characters / characters of the generated text"))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(name="tiny-echo", factory="tinybench.impl:TinyEcho", config=TinyEchoConfig,
                           spec_version="1", method_kinds=("steering", "explanation"),
                           metrics=("byte-diversity",), description="tests only"))
