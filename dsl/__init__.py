"""archc: a compiler for neural-network architectures."""
