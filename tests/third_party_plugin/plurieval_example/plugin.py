"""Registrations only: this module must import nothing heavy (``plurieval list`` loads it)."""

from pydantic import BaseModel, ConfigDict

from plurieval.api import BenchmarkSpec, DatasetSpec, DirectionConfig, MethodSpec, MetricSpec, NoConfig, hookimpl


class WordsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = 6


class GuessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guess: str = "noun"


class RandomDirectionConfig(DirectionConfig):
    seed: int = 0


class MatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_sensitive: bool = False


@hookimpl
def register_datasets(register):
    register(DatasetSpec(name="example-words", factory="plurieval_example.components:Words", config=WordsConfig,
                         description="Words labelled with their part of speech", license="CC0-1.0"))


@hookimpl
def register_methods(register):
    register(MethodSpec(name="example-guess", factory="plurieval_example.components:Guess", config=GuessConfig,
                        method_kind="explanation", description="Always answers the same label"))
    register(MethodSpec(name="example-random", factory="plurieval_example.steering:RandomDirection",
                        config=RandomDirectionConfig, method_kind="steering",
                        description="Baseline: a seeded random unit direction per layer, signed towards the positive group"))


@hookimpl
def register_metrics(register):
    register(MetricSpec(name="example-exact-match", factory="plurieval_example.components:ExactMatch",
                        config=MatchConfig, description="1 if prediction == reference"))
    register(MetricSpec(name="example-answer-words", factory="plurieval_example.steering:AnswerWords",
                        config=NoConfig, higher_is_better=False, description="Words per answer"))


@hookimpl
def register_benchmarks(register):
    register(BenchmarkSpec(name="example-bench", factory="plurieval_example.components:WordsBenchmark",
                           method_kinds=("explanation",), default_method="example-guess",
                           metrics=("example-exact-match",), description="Part-of-speech guessing"))


@hookimpl
def register_commands(cli):
    @cli.command("example-hello")
    def hello(name: str = "world") -> None:
        """Say hello (a command contributed by the plurieval-example plugin)."""
        print(f"hello {name} from plurieval-example")
