-- The secret a site signs its signed-in readers' ids with (JWT, HS256), so that only the
-- site can post as one of its readers. NULL: the site does not sign them, and an author
-- id is whatever the widget sends.
ALTER TABLE sites ADD COLUMN reader_secret text;
