"""Code generation: PyTorch modules from Jinja templates."""
