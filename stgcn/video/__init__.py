"""From video to skeletons: pose backends, tracking, video I/O, drawing and the demo loop.

Needs the optional extra ``pip install "stgcn[video]"`` (OpenCV, MediaPipe); the modules import it
lazily through :func:`stgcn.video.deps.require`, so ``import stgcn.video`` alone never fails.
"""
