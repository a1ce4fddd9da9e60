-- Change detection for revisions: the recording times (UTC) of CONNECT offences modified after the bound time
-- (UTC). A change to a migrated offence also changes whether its CRIS report counts; both fall in the
-- same original month, so the offence's own month is the one to re-extract.
SELECT DISTINCT o.recorded_at_utc
FROM dm.connect_offence AS o
WHERE o.last_modified_at_utc > :since
