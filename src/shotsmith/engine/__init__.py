from shotsmith.engine.engine import Cancelled, Candidate, Engine, Progress, RenderResult

__all__ = ["Cancelled", "Candidate", "Engine", "Progress", "RenderResult"]
