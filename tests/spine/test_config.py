"""Run-config validation: every error names its field path and, for choices, the allowed values."""

import pytest
from plugins_for_tests import PluginA

from plurieval.config import apply_overrides, build_run_config, validate_components
from plurieval.errors import ConfigError
from plurieval.host import PluginHost
from plurieval.specs import ModelSpec


class Models:
    from plurieval.hookspecs import hookimpl

    @hookimpl
    def register_models(self, register):
        from pydantic import BaseModel

        class HFConfig(BaseModel):
            path: str
            dtype: str = "float32"

        register(ModelSpec(name="default", factory="builtins:dict"))
        register(ModelSpec(name="hf", factory="builtins:dict", config=HFConfig, argument="path"))


@pytest.fixture
def host():
    host = PluginHost(autoload=False)
    host.add_plugin(PluginA(), name="a", distribution="dist-a")
    host.add_plugin(Models(), name="m", distribution="dist-m")
    return host


def test_run_config_shape_errors_name_the_field():
    with pytest.raises(ConfigError) as exc:
        build_run_config({"benchmark": "bench-a", "limit": 0, "batch_size": "many", "colour": "red"})
    paths = dict(exc.value.problems)
    assert "greater than or equal to 1" in paths["limit"] and "(got 0)" in paths["limit"]
    assert "valid integer" in paths["batch_size"] and "'many'" in paths["batch_size"]
    assert paths["colour"].startswith("unknown field") and "allowed: " in paths["colour"]
    assert "benchmark" in paths["colour"] and "limit" in paths["colour"]


def test_unknown_component_param_suggests_the_closest_field(host):
    data = apply_overrides({"benchmark": "bench-a", "method": "only-in-a"}, ["method.alpah=2"])
    with pytest.raises(ConfigError) as exc:
        validate_components(build_run_config(data), host)
    problems = dict(exc.value.problems)
    message = problems["method.params.alpah"]
    assert "did you mean 'alpha'?" in message and "(allowed: alpha, layers, mode)" in message


def test_component_params_are_validated_against_the_component_config(host):
    data = apply_overrides({"benchmark": "bench-a", "method": "only-in-a"},
                           ["method.alpha=strong", "method.params.mode=scale", "method.params.layers=[1,x]"])
    config = build_run_config(data)
    with pytest.raises(ConfigError) as exc:
        validate_components(config, host)
    problems = dict(exc.value.problems)
    assert "valid number" in problems["method.params.alpha"] and "'strong'" in problems["method.params.alpha"]
    assert "'add' or 'ablate'" in problems["method.params.mode"]  # the allowed values
    assert "method.params.layers.1" in problems
    text = str(exc.value)
    assert text.startswith("invalid run config:") and "method.params.mode" in text


def test_unknown_component_in_config_suggests(host):
    config = build_run_config({"benchmark": "bench-b", "method": "only-in-b"})
    with pytest.raises(ConfigError) as exc:
        validate_components(config, host)
    problems = dict(exc.value.problems)
    assert "Did you mean: bench-a?" in problems["benchmark.name"]
    assert "only-in-a" in problems["method.name"]


def test_overrides_route_bare_keys_to_the_benchmark_and_parse_values():
    data = apply_overrides({"benchmark": "clasbench"}, ["languages=en,de,ja", "limit=5", "model.dtype=bfloat16",
                                                       "method.params.alpha=0.5"])
    assert data["benchmark"] == {"name": "clasbench", "params": {"languages": "en,de,ja"}}
    assert data["limit"] == 5 and data["model"] == {"params": {"dtype": "bfloat16"}}
    assert data["method"]["params"]["alpha"] == 0.5


def test_model_argument_syntax(host):
    config = build_run_config({"benchmark": "bench-a", "model": "hf:/models/tiny-llama"})
    resolved = validate_components(config, host)
    spec, cfg = resolved["model"]
    assert spec.name == "hf" and cfg.path == "/models/tiny-llama"
    with pytest.raises(ConfigError, match="takes no ':' argument"):
        validate_components(build_run_config({"benchmark": "bench-a", "model": "default:x"}), host)


def test_comma_list_accepts_strings():
    from pydantic import BaseModel

    from plurieval.config import CommaList

    class C(BaseModel):
        languages: CommaList = []

    assert C(languages="en, de,ja").languages == ["en", "de", "ja"]
    assert C(languages=["fr"]).languages == ["fr"]
