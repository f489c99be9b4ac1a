"""Handing the grader to learning platforms: Gradescope's autograder, GitHub Classroom."""
