-- Browsers leave a default port out of `Origin`, so an origin stored with one
-- ("https://news.example:443") never matched, and the widget was refused on that site.
-- New origins are stored as browsers send them (`sites.check_origin`); this drops the
-- default ports of those stored before, and the duplicates that leaves, keeping the order.
UPDATE sites SET allowed_origins = ARRAY(
    SELECT origin FROM (
        SELECT regexp_replace(stored, '^(https://.*):443$|^(http://.*):80$', '\1\2') AS origin,
               min(position) AS first
        FROM unnest(allowed_origins) WITH ORDINALITY AS listed(stored, position)
        GROUP BY 1
    ) AS normalised
    ORDER BY first
)
WHERE EXISTS (SELECT FROM unnest(allowed_origins) AS stored
              WHERE stored ~ '^https://.*:443$|^http://.*:80$');
