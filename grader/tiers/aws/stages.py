"""The stages of the lab at which the aws tier verifies the account (`--stage`): each aws check says
its own with ``@pytest.mark.stage(...)``."""

from __future__ import annotations

from grader.feedback import Text

STAGE_NAMES = {
    "part1": Text("pendant la Partie 1 (après l'étape 7, avant l'étape 8)", "during Part 1 (after step 7, before step 8)"),
    "after-step8": Text("après le nettoyage de l'étape 8", "after the step 8 clean-up"),
    "part2": Text("à la fin de la Partie 2 (après l'étape 12 et le bonus, dans l'heure)",
                  "at the end of Part 2 (after step 12 and the bonus, within the hour)"),
    "final": Text("après le nettoyage final", "after the final clean-up"),
}
STAGES = tuple(STAGE_NAMES)
