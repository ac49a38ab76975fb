-- Articles as readers know them: the headline and the page's address, so moderators see
-- which story a comment is on (the widget sends both; importers bring them along).
ALTER TABLE articles ADD COLUMN title text, ADD COLUMN url text;
