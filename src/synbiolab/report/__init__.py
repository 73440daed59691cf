"""Reports: the human view of every folder the project writes."""

from .run import register_section, write_report

__all__ = ["register_section", "write_report"]
