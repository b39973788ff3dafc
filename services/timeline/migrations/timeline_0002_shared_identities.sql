-- depends: timeline_0001_identity_index
-- An identity may belong to several customers: a weak identity (a family phone, when the rules do not
-- merge on phones) is attached to every customer it was seen with. The key is the pair; lookups by
-- identity use the primary key's leading column, lookups by customer the existing index.
ALTER TABLE identity_index DROP CONSTRAINT IF EXISTS identity_index_pkey;
ALTER TABLE identity_index ADD PRIMARY KEY (identity_key, customer_id);
