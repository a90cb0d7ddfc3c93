"""Export: merged HF weights, GGUF (LoRA adapter or full model), Ollama models, and a llama.cpp server."""
