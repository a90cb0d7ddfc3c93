"""The engine behind the skills: datasets, training, jobs, evaluation, export, LLM providers, voice,
scheduling and retrain, plus the skill registry. The skill folders themselves live in `agent/tools/`."""
