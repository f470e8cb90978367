"""Provider batch APIs (OpenAI Batch, Anthropic Message Batches): half price, kill-safe at every stage.

``store`` keeps each batch's life in the answer cache (committed before every
step that talks to the provider); ``providers`` speaks the two wire formats;
``runner`` plans, submits, polls and collects, resuming whatever a killed
process left.
"""
