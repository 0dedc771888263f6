-- Fill a pgwire database (PostgreSQL) with :n synthetic events for read
-- benchmarks: the shape of the pgwire schema exactly as the store writes
-- it (tag values that are 64-char hex as 0xfe + 32 bytes, content
-- lowered for search), signatures zeros (reads never verify). PostgreSQL
-- only (format, sha256, convert_to). bench/run_gateway_bench.sh runs it:
--   psql -v n=1000000 -f bench/gateway_fill.sql
-- Authors: 10,000 (sha256 of 'pk' || i); kinds 1 (60%), 7 (20%), 6, 1111;
-- one "t" tag of 1,000 ('tag' || i), one "p" tag (another author);
-- created_at from 1700000000, 2 s apart; content with one of 20 words.
-- The words table (NIP-50 search) gets what the store's splitter gives
-- for 'note <n> about <word>': note, <n> (from 10 on: 2 bytes at least),
-- about and the word. The store marks the table filled (nostr_meta
-- 'words') when it creates the schema on the empty database, before this
-- runs.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE fill AS
SELECT s.*, 'note ' || s.g || ' about ' || s.topic AS content FROM (
SELECT g,
       sha256(convert_to('ev' || g, 'UTF8')) AS id,
       sha256(convert_to('pk' || (g % 10000), 'UTF8')) AS pubkey,
       sha256(convert_to('pk' || ((g * 7) % 10000), 'UTF8')) AS ptag,
       1700000000 + g * 2 AS created_at,
       (ARRAY[1, 1, 1, 1, 1, 1, 7, 7, 6, 1111])[1 + g % 10] AS kind,
       'tag' || (g % 1000) AS ttag,
       (ARRAY['bitcoin', 'nostr', 'coffee', 'music', 'rust', 'linux', 'cats', 'books',
            'art', 'travel', 'food', 'garden', 'chess', 'photo', 'movies', 'running', 'privacy', 'zaps', 'relay',
            'weather'])[1 + g % 20] AS topic
FROM generate_series(1, :n) AS g) AS s;
INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, content, raw)
SELECT id, pubkey, created_at, kind, NULL, NULL, content,
       format('{"id":"%s","pubkey":"%s","created_at":%s,"kind":%s,"tags":[["t","%s"],["p","%s"]],"content":"%s","sig":"%s"}',
              encode(id, 'hex'), encode(pubkey, 'hex'), created_at, kind, ttag, encode(ptag, 'hex'), content,
              repeat('0', 128))
FROM fill;
INSERT INTO tags (name, value, created_at, event_id)
SELECT 't', convert_to(ttag, 'UTF8'), created_at, id FROM fill
UNION ALL
SELECT 'p', '\xfe'::bytea || ptag, created_at, id FROM fill;
INSERT INTO words (word, created_at, event_id)
SELECT w.word, f.created_at, f.id
FROM fill f CROSS JOIN LATERAL unnest(ARRAY['note', f.g::text, 'about', f.topic]) AS w (word)
WHERE octet_length(w.word) >= 2
ORDER BY w.word, f.created_at DESC, f.id;
COMMIT;
ANALYZE events;
ANALYZE tags;
ANALYZE words;
