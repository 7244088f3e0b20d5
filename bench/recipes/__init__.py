"""Training recipes: ``classify`` and ``autoencode`` (pretrain, then fine-tune)."""
