-- Schema 2: relay instances sharing the database. One row per document
-- with how many membership ops it has and its last doc seq: every commit
-- that adds to a document moves its row from the heads its instance
-- decided on to the new ones, so an instance whose view is stale (another
-- committed first) fails instead of writing beside it.
CREATE TABLE doc_heads (
    doc BYTEA PRIMARY KEY,
    ops BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
INSERT INTO doc_heads (doc, ops, seq)
SELECT m.doc, count(*),
       coalesce((SELECT max(e.doc_seq) FROM envelopes e WHERE e.doc = m.doc), 0)
FROM membership_ops m GROUP BY m.doc;
-- A deleted document keeps its row, marked -1: nobody writes to it or
-- creates it again.
INSERT INTO doc_heads (doc, ops, seq) SELECT doc, -1, -1 FROM tombstones
ON CONFLICT (doc) DO NOTHING;
