"""Grading a class: many submissions in one command (``ecs-lab grade``), a gradebook, a class report."""
