"""Replays on recorded results: mixers called in-process against runs whose outcomes are already known (the RegMix
runs shipped in ``app/demo/regmix``, the simulator pool cached in ``bench/data``), so no training happens."""
