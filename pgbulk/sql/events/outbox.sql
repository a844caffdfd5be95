-- Change capture, database side: the outbox and the trigger function that fills it.
--
-- One outbox per database, shared by every target schema. A row is written by
-- pgbulk.capture_change() inside the transaction that made the change, so an event
-- exists exactly when its change committed. `pgbulk relay` delivers pending rows in
-- id order and marks them delivered (or parked) only after the function answered.
--
-- Ordering: id is taken from a sequence when the trigger runs, not at commit, so two
-- concurrent transactions can commit out of id order. The relay never reads the
-- outbox through a high-water mark (which would skip a smaller id that commits
-- late); it selects by state = 'pending', so a late commit is simply picked up on
-- the next pass. Within one row, id order is commit order: a second transaction
-- that changes the same row waits for the first one's row lock (or, for a
-- re-inserted id, its unique index entry) to be released at commit, so its trigger,
-- and its nextval, run after the first transaction committed. See docs/events.md.
--
-- Idempotent: every statement can run again on an installed database.

CREATE SCHEMA IF NOT EXISTS pgbulk;

CREATE TABLE IF NOT EXISTS pgbulk.outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Sent as the envelope's id: a redelivery carries the same event_id.
    event_id      uuid NOT NULL DEFAULT gen_random_uuid(),
    -- The writing transaction, for diagnostics (group the events of one transaction).
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    table_schema  text NOT NULL,
    table_name    text NOT NULL,
    op            text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
    -- The row's id (the new row's, the old row's for DELETE): the unit of ordering,
    -- the same key the function uses as Pub/Sub ordering key.
    row_id        text NOT NULL,
    old_row       jsonb,
    new_row       jsonb,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    delivered_at  timestamptz
);

-- The relay's two questions, both about pending rows only, so the indexes stay as
-- small as the backlog however many delivered rows the table keeps:
-- "the next pending events in id order" ...
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON pgbulk.outbox (id) WHERE state = 'pending';
-- ... and "is an earlier event of this row still pending?"
CREATE INDEX IF NOT EXISTS outbox_pending_row_idx
    ON pgbulk.outbox (table_schema, table_name, row_id, id) WHERE state = 'pending';

-- The relay claims a batch by leasing it (leased_until, leased_by) in one short
-- statement, sends it with no transaction open, then records the outcomes: a relay
-- that dies mid-batch leaves a lease that simply expires. Added by ALTER so that an
-- outbox installed by an earlier version gains them on `pgbulk events install`.
ALTER TABLE pgbulk.outbox
    ADD COLUMN IF NOT EXISTS leased_until timestamptz,
    ADD COLUMN IF NOT EXISTS leased_by uuid;

-- The relay's retention purge: "delivered events older than N".
CREATE INDEX IF NOT EXISTS outbox_delivered_idx
    ON pgbulk.outbox (delivered_at) WHERE state = 'delivered';

-- A relay whose requests the function refuses (401/403: a credentials problem, not
-- an event's) records it here while it lasts, for `pgbulk events status`; one row
-- per running relay, deleted when delivery resumes or the relay stops.
CREATE TABLE IF NOT EXISTS pgbulk.relay_status (
    relay_id        uuid PRIMARY KEY,
    url             text NOT NULL,
    blocked_since   timestamptz NOT NULL,
    blocked_reason  text NOT NULL,
    last_error      text,
    seen_at         timestamptz NOT NULL DEFAULT now()
);

-- SECURITY DEFINER: whoever may write users/emails/phone_numbers can record the
-- change without being granted anything on the outbox. The pinned search_path keeps
-- such a function from resolving names in a schema the caller controls.
CREATE OR REPLACE FUNCTION pgbulk.capture_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    INSERT INTO pgbulk.outbox (table_schema, table_name, op, row_id, old_row, new_row)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP,
            coalesce(new_row, old_row) ->> 'id', old_row, new_row);
    -- Wakes a waiting relay at commit. Identical notifications of one transaction
    -- are folded into one, so a bulk UPDATE sends a single wake-up.
    PERFORM pg_notify('pgbulk_events', '');
    RETURN NULL;
END
$$;
