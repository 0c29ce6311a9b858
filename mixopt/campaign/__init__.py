"""Close the loop: a campaign runner that trains the runs a mixer proposes and posts their results.

``CampaignRunner(client, project, "python train.py --weights {weights_file} --out {out}").run()`` runs rounds of
proposals, trains each run on an executor (``local`` subprocesses, or Ray tasks with
:class:`~mixopt.campaign.ray_executor.RayExecutor`), heartbeats while it trains, posts each result exactly
once (``failed`` with the stderr tail when it fails) and recommends at the end. The CLI is
``mixopt campaign run``.

Modules: ``spec`` (a run to train, the command template, an outcome), ``executor`` (the executor protocol),
``local`` (subprocesses), ``ray_executor`` (Ray; imports ``ray``, the ``mixopt[ray]`` extra), ``runner``.
"""

from mixopt.campaign.executor import Executor
from mixopt.campaign.local import LocalExecutor
from mixopt.campaign.runner import CampaignBusy, CampaignResult, CampaignRunner, CampaignState, run_campaign
from mixopt.campaign.spec import Outcome, RunSpec, Trainer, render_command

__all__ = [
    "CampaignBusy",
    "CampaignResult",
    "CampaignRunner",
    "CampaignState",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "RunSpec",
    "Trainer",
    "render_command",
    "run_campaign",
]
