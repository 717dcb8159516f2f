"""Configs of the test plugin (torch-free, so the plugin module stays import-light)."""

from pydantic import BaseModel, ConfigDict, Field


class TinyModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arch: str = "llama"
    seed: int = 0


class TinyEchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(24, ge=1, description="number of prompts")
    max_new_tokens: int = 8
    alpha: float = Field(0.0, description="steering strength of the fitted direction (0: no intervention)")
    layer: int = 1
    sweep: list[int] = Field(default_factory=list, description="layers for a per-layer sweep (nested runs)")
    delay_s: float = Field(0.0, description="pause after each batch, so a test can kill the run mid-way")
