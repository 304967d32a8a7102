"""The screens of the operator console."""
