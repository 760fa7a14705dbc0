"""Dagster resources: data source, release storage, privacy policy, release key, asset IO, disclosure review,
advisor, shard runner."""

from resources.advisor import AdvisorResource
from resources.governance import GovernanceResource
from resources.io_manager import PartitionedParquetIOManager
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.series import SeriesLedgerResource
from resources.shards import ShardRunnerResource
from resources.source import SourceResource
from resources.sql_source import SqlSourceResource
from resources.storage import ReleaseStorageResource

__all__ = ["AdvisorResource", "GovernanceResource", "PartitionedParquetIOManager", "PrivacyPolicyResource",
           "ReleaseKeyResource", "ReleaseStorageResource", "SeriesLedgerResource", "ShardRunnerResource",
           "SourceResource", "SqlSourceResource"]
