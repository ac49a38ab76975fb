-- The secret a site signs its signed-in readers' ids with (JWT, HS256), so that only the
-- site can post as one of its readers. NULL: the site does not sign them, and an author
-- id is whatever the widget sends. After a rotation the previous secret stays valid
-- until `reader_secret_previous_until`: pages rendered before it carry its tokens.
ALTER TABLE sites
    ADD COLUMN reader_secret text,
    ADD COLUMN reader_secret_previous text,
    ADD COLUMN reader_secret_previous_until timestamptz;
