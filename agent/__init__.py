"""The assistant: transports, router, sessions, intents, LLM providers, voice, scheduler wiring, CLI."""
