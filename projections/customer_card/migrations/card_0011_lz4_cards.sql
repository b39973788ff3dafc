-- depends: card_0010_shared_identities
-- Cards are TOAST-compressed with LZ4 where the server has it (a build option; Debian's has): a busy
-- customer's card is rewritten every batch, and compressing it again with pglz was most of the database
-- CPU of the card upsert. The values are the same; LZ4 stores them slightly larger and reads them faster.
DO $$
BEGIN
  IF 'lz4' = ANY ((SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression')::text[]) THEN
    ALTER TABLE customer_cards ALTER COLUMN card SET COMPRESSION lz4;
  END IF;
END $$;
