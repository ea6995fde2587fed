-- Starling relay on PostgreSQL, schema 1: the same tables as the SQLite
-- store's schema 5 (see apps/relay/src/store/schema.rs for what each holds).
CREATE TABLE membership_ops (
    doc BYTEA NOT NULL,
    idx BIGINT NOT NULL,
    op BYTEA NOT NULL,
    stamp BYTEA,
    PRIMARY KEY (doc, idx)
);
CREATE TABLE envelopes (
    doc BYTEA NOT NULL,
    doc_seq BIGINT NOT NULL,
    author BYTEA NOT NULL,
    author_seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    bytes BYTEA,
    PRIMARY KEY (doc, doc_seq),
    UNIQUE (doc, author, author_seq)
);
CREATE TABLE probe (bytes BYTEA NOT NULL);
CREATE TABLE tombstones (
    doc BYTEA PRIMARY KEY,
    at BIGINT NOT NULL,
    idx BIGINT,
    op BYTEA,
    stamp BYTEA
);
CREATE TABLE access_log (
    doc BYTEA NOT NULL,
    device BYTEA NOT NULL,
    kind BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (doc, device, kind, hour)
);
CREATE INDEX access_log_hour ON access_log (hour);
