"""Per-row interventions through the cache: each row is keyed with its own setting only."""

import torch
from conftest import tiny_config

from plurieval.config import validate_components
from plurieval.models import AddVector, DirectionalAblation
from plurieval.run import RunContext


def _ctx(host, tmp_path):
    config = tiny_config(tmp_path / "runs", n=2)
    return RunContext(host=host, config=config, run_id="rows", run_dir=tmp_path / "runs" / "rows",
                      components=validate_components(config, host))


def test_rows_of_a_mixed_batch_share_entries_with_each_setting_alone(host, tmp_path):
    ctx = _ctx(host, tmp_path)
    v = torch.randn(ctx.model.hidden_size, generator=torch.Generator().manual_seed(0))
    settings = [None, AddVector(v, layers=[1], alpha=4.0), DirectionalAblation(v)]
    prompts = ["Prompt one", "Prompt two"]
    ivs = [s for s in settings for _ in prompts]
    mixed = ctx.generate(prompts * 3, interventions=ivs, max_new_tokens=6, chat=False)
    assert ctx.cache.stats.misses == {"generation": 6}
    # A prompt repeated under different settings never shares an entry (the outputs differ) ...
    assert mixed[0].token_ids != mixed[2].token_ids != mixed[4].token_ids
    # ... and each setting alone is served from the rows of the mixed call, unchanged.
    for k, iv in enumerate(settings):
        alone = ctx.generate(prompts, intervention=iv, max_new_tokens=6, chat=False)
        assert [g.token_ids for g in alone] == [g.token_ids for g in mixed[2 * k:2 * k + 2]]
    assert ctx.cache.stats.hits == {"generation": 6}
    point = "blocks.2.resid_post"
    acts = ctx.extract(prompts * 3, [point], interventions=ivs, chat=False)[point]
    again = ctx.extract(prompts, [point], intervention=settings[1], chat=False)[point]
    assert ctx.cache.stats.hits["activation"] == 2
    torch.testing.assert_close(again, acts[2:4])
    ctx.close()


def test_speed_settings_are_not_part_of_a_generation_key(host, tmp_path):
    """Decoding lanes and the shared prompt prefix change how fast, never what is generated:
    a row generated with one lane and whole prompts is served to a call with two lanes and a
    shared prefix (and the other way round)."""
    ctx = _ctx(host, tmp_path)
    prompts = ["A shared start, then one", "A shared start, then two"]
    first = ctx.generate(prompts, max_new_tokens=5, chat=False, lanes=1, share_prefix=False)
    again = ctx.generate(prompts, max_new_tokens=5, chat=False, lanes=2, share_prefix=True)
    assert ctx.cache.stats.misses == {"generation": 2} and ctx.cache.stats.hits == {"generation": 2}
    assert [g.token_ids for g in again] == [g.token_ids for g in first]
    ctx.close()
