-- hubindex catalog, version 9: weight signatures sampled with version 1 coordinates (16-element windows scattered
-- over every tensor) cannot be compared with version 2 ones (one block of whole rows in ~40 tensors,
-- hubindex.fingerprint.sampling). Their models become stale instead of being mixed with new ones: status 'error'
-- (left out of every comparison) and no file stamp, so the next `index` fingerprints them again, and their hub rows
-- 'error', so the next crawl fetches them again. Their old rows stay until then.
UPDATE models SET status = 'error', file_stamp = NULL,
                  error = 'weight signature from sampling version 1: index or crawl again to compare it'
WHERE id IN (SELECT model_id FROM signatures
             WHERE coalesce(TRY_CAST(json_extract_string(meta, '$.sampling') AS INTEGER), 1) < 2);
UPDATE hub_models SET status = 'error', reason = 'weight signature from sampling version 1: crawl again'
WHERE status IN ('partial', 'full') AND id IN (SELECT id FROM models WHERE status = 'error');
