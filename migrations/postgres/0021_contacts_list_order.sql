-- The contacts list's order (LOWER(name), then id), as an index: a page is
-- read in order and stops at its last row, instead of every contact sorted
-- for each page. The index on the bare name served no query.
DROP INDEX contacts_name;
CREATE INDEX contacts_list_order ON contacts (LOWER(name), id);
