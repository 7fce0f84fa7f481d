"""The reporters: where results become text for people (rich tables, progress bars, prompts).

Logic modules return data; the CLI hands it to one of these, or prints it as JSON for machines.
Only the commands that show tables import rich, so `validate` starts fast.
"""
