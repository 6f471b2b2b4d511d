-- edgelite demo, run by `cargo xtask demo` in the edgelite shell (upstream's sqlite3 shell).
-- Everything here is plain SQLite 3.54 plus the functions edgelite adds to every connection.
SELECT sqlite_version() AS sqlite, edgelite_version() AS edgelite;

CREATE TABLE articles (
  id    INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  year  INT,
  tags  TEXT  -- JSON array
);
INSERT INTO articles (title, year, tags) VALUES
  ('SQLite at the edge',          2024, '["sqlite","edge"]'),
  ('Vector search in one file',   2025, '["vectors","sqlite"]'),
  ('Embedded replicas explained', 2025, '["replication","edge"]'),
  ('DiskANN for the rest of us',  2026, '["vectors","ann"]');

-- Window functions: each article's rank within its year.
SELECT year, title, row_number() OVER (PARTITION BY year ORDER BY title) AS n
  FROM articles ORDER BY year, n;

-- JSON: articles per tag.
SELECT j.value AS tag, count(*) AS articles
  FROM articles, json_each(articles.tags) AS j
 GROUP BY tag ORDER BY articles DESC, tag;

-- Full-text search (FTS5 is compiled in).
CREATE VIRTUAL TABLE articles_fts USING fts5(title, content='articles', content_rowid='id');
INSERT INTO articles_fts(articles_fts) VALUES ('rebuild');
SELECT a.title FROM articles_fts f JOIN articles a ON a.id = f.rowid
 WHERE articles_fts MATCH 'sqlite OR vector*' ORDER BY a.id;

PRAGMA integrity_check;
