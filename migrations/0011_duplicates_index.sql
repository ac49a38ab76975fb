-- Spam scoring counts a text's copies within one site (the same fingerprint, the same
-- site, the last 24 hours). With the site in the fingerprint's index, one index scan
-- answers that; without it, PostgreSQL could AND the fingerprint's few entries with
-- every entry of the site's from another index, once for each comment scored. The
-- fingerprint stays in front: never a way to find a site's comments (see 0002).
CREATE INDEX comments_fingerprint_site ON comments (fingerprint, site_id, created_at);
DROP INDEX comments_fingerprint;
