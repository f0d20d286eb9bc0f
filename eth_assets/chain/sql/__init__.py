"""SQL files of this stage, read with eth_assets.common.sql_files.load_sql."""
