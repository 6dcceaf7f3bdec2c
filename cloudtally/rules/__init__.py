"""Rules as code: YAML files in a rules folder, loaded into pydantic models whose errors name
the file, line and key."""

from cloudtally.rules.yaml_loader import RuleProblem, load_model, load_yaml

__all__ = ["RuleProblem", "load_model", "load_yaml"]
