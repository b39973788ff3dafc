-- depends: timeline_0001_identity_index
-- Pairs of customers a staff member separated by undoing their merge: identity rules never merge
-- them again automatically (a staff merge may, and clears the row). One row per unordered pair,
-- stored with the smaller uuid first so the pair has one spelling.
CREATE TABLE IF NOT EXISTS customer_separations (
    customer_a        uuid NOT NULL,
    customer_b        uuid NOT NULL,
    unmerge_event_id  uuid NOT NULL,
    separated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_a, customer_b),
    CHECK (customer_a < customer_b)
);
CREATE INDEX IF NOT EXISTS customer_separations_b ON customer_separations (customer_b);
