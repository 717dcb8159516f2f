"""Shared steering math (directions, neuron sets) used by several steering plugins.

Pure tensor code on activations: no model, no hooks (those live in ``plurieval.models``)."""
