"""Provider batch APIs (OpenAI Batch, Anthropic Message Batches): half price, kill-safe at every stage.

``store`` keeps each batch's life in the answer cache (committed before every
step that talks to the provider); ``providers`` speaks the two wire formats;
``runner`` plans, submits, polls and collects, resuming whatever a killed
process left.

This module must not import its modules, and no step may talk to a provider before the cache has
committed the batch's state, so that a killed run neither loses a batch nor pays for it twice.
"""
