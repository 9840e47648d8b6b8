-- Issue 25: every change of a key gets a number from one sequence — its version — so that an
-- instance applies changes in order: a full refresh that read its snapshot before a revocation
-- never undoes it. A deletion is a change too: its version is kept in tower_hmac_key_tombstones.
-- The trigger also sends the NOTIFY, so that a change made by hand in SQL is in force on every
-- instance within a second, like one made by KeyAdmin (PostgreSQL sends a notification with the
-- same payload once per transaction).
CREATE SEQUENCE tower_hmac_key_versions;

ALTER TABLE tower_hmac_keys ADD COLUMN version bigint;
UPDATE tower_hmac_keys SET version = nextval('tower_hmac_key_versions');
ALTER TABLE tower_hmac_keys ALTER COLUMN version SET NOT NULL;

CREATE TABLE tower_hmac_key_tombstones (
    key_id      text PRIMARY KEY,
    version     bigint NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- Runs under the row's lock, so the versions of one key follow the order of its commits.
CREATE FUNCTION tower_hmac_key_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.key_id <> OLD.key_id) THEN
        INSERT INTO tower_hmac_key_tombstones (key_id, version)
        VALUES (OLD.key_id, nextval('tower_hmac_key_versions'))
        ON CONFLICT (key_id) DO UPDATE SET version = EXCLUDED.version, deleted_at = now();
        PERFORM pg_notify('tower_hmac_keys', OLD.key_id);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.version := nextval('tower_hmac_key_versions');
    PERFORM pg_notify('tower_hmac_keys', NEW.key_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER tower_hmac_key_changed
    BEFORE INSERT OR UPDATE OR DELETE ON tower_hmac_keys
    FOR EACH ROW EXECUTE FUNCTION tower_hmac_key_changed();
