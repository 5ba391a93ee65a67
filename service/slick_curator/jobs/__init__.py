"""Job lifecycle: dataset ingestion, probe creation, the supervisor and its worker process.

No FastAPI here; the API layer calls these services and turns their errors into HTTP.
"""

from slick_curator.jobs.datasets import DatasetService, Upload
from slick_curator.jobs.manager import JobManager
from slick_curator.jobs.probes import ProbeService

__all__ = ["DatasetService", "JobManager", "ProbeService", "Upload"]
