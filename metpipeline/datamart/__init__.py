"""The DataMart as the pipeline sees it: the contract (schema.py), its DDL (ddl.py) and the synthetic seed.

The production DataMart is SQL Server (schema `dm`); locally and in tests it is an embedded SQLite file or a
PostgreSQL database built from the same contract, so the pipeline runs unchanged apart from its URL.
"""
