"""Local state on SQLite: the budget ledger and user memory (one file each, WAL mode)."""

from .budget import BudgetTracker, Limits
from .db import data_dir
from .memory import UserMemory

__all__ = ["BudgetTracker", "Limits", "UserMemory", "data_dir"]
