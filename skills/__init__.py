"""Fine-tuning skills: each `skills/tools/<name>/` folder is one tool (SKILL.md + skill.py)."""
